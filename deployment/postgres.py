"""Connections to the team's PostgreSQL: is it there, and advisory locks on it.

An advisory lock has one holder at a time across every machine of a team. It is held by a
session on a dedicated connection, so PostgreSQL drops it when the session ends: on release, on
a clean exit, and when the holding process dies (even by `kill -9`, the server sees the socket
close). Waiting polls `pg_try_advisory_lock` and sleeps between looks, so a waiting
process stays responsive to Ctrl-C and gives up after its timeout.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from deployment.errors import BayeslineError
from deployment.settings import POSTGRES_URL_ENV, DeploymentError, PostgresSettings

POLL_INTERVAL_S = 0.2


class AdvisoryLockTimeout(BayeslineError, TimeoutError):
    """The lock was still held by another session when the timeout ran out."""


def advisory_key(name: str) -> int:
    """A lock's 64-bit key from its name (sha256, so every machine derives the same key)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(
    settings: PostgresSettings, name: str, timeout_s: float, busy: Exception | None = None
) -> Iterator[None]:
    """Hold the advisory lock `name` on `settings`' database for the duration of the block.

    Raises `busy` (default: AdvisoryLockTimeout) if another session still holds it after
    `timeout_s` seconds.
    """
    import psycopg2

    key = advisory_key(name)
    try:
        con = psycopg2.connect(**settings.connect_kwargs(application_name=name))
    except psycopg2.OperationalError as exc:
        raise unreachable(settings, exc) from exc
    try:
        con.autocommit = True  # a session lock outlives statements; no transaction held open
        with con.cursor() as cursor:
            if not _acquire(cursor, key, timeout_s):
                raise busy or AdvisoryLockTimeout(
                    f"advisory lock {name!r} still held after {timeout_s:.0f} s"
                )
        yield
    finally:
        con.close()  # ends the session, which releases its lock (never masks the block's error)


class _Cursor(Protocol):
    """What _acquire uses of a psycopg2 cursor (psycopg2 ships no type information)."""

    def execute(self, query: str, params: tuple[object, ...]) -> object: ...

    def fetchone(self) -> tuple[object, ...] | None: ...


def _acquire(cursor: _Cursor, key: int, timeout_s: float) -> bool:
    """True once the lock is ours; False if it was still held at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        row = cursor.fetchone()
        if row and row[0]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL_S)


def check_reachable(settings: PostgresSettings) -> None:
    """Connect once, or raise DeploymentError saying how to start the server."""
    import psycopg2

    try:
        psycopg2.connect(**settings.connect_kwargs(application_name="bayesline")).close()
    except psycopg2.OperationalError as exc:
        raise unreachable(settings, exc) from exc


def unreachable(settings: PostgresSettings, exc: Exception) -> DeploymentError:
    """The one-line error for a server that does not answer or refuses us."""
    said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if settings.origin == POSTGRES_URL_ENV:
        alone = f"unset {POSTGRES_URL_ENV} to work on this machine alone"
    else:
        alone = "`bayesline team down --drop` deletes it and works on this machine alone"
    return DeploymentError(
        f"The team's PostgreSQL {settings.describe()} (from {settings.origin}) does not "
        f"answer: {said}. Start it (`bayesline team up` for the one on this machine), or {alone}."
    )
