"""Where Bayesline runs: on a laptop (the default) or as a team deployment on PostgreSQL.

This module is the one place that says which. With a PostgreSQL server configured, the Dagster
instance keeps its runs, event logs and schedules there, and every lake write takes a
PostgreSQL advisory lock, so the single-writer guarantee holds across machines. Without one,
nothing changes: SQLite under DAGSTER_HOME and a file lock in BAYESLINE_HOME.

The server comes from BAYESLINE_POSTGRES_URL (`postgresql://user@host:port/database`, never
with a password), or from the file `bayesline team up` writes for its private cluster. The
password comes from BAYESLINE_POSTGRES_PASSWORD or from a 0600 pgpass file named by
BAYESLINE_POSTGRES_PASSFILE: never from a URL, which ends up in logs.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

POSTGRES_URL_ENV = "BAYESLINE_POSTGRES_URL"
POSTGRES_PASSWORD_ENV = "BAYESLINE_POSTGRES_PASSWORD"
POSTGRES_PASSFILE_ENV = "BAYESLINE_POSTGRES_PASSFILE"
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")


class DeploymentError(ValueError):
    """The deployment settings are wrong or their server is unreachable; says what to do."""


@dataclass(frozen=True)
class PostgresSettings:
    """One PostgreSQL database serving a team: Dagster's storage and the lake writer lock."""

    host: str
    port: int
    user: str
    database: str
    #: A pgpass file (mode 0600) holding the password; None when it is in the environment.
    passfile: Path | None = None
    #: Where the settings came from, for error messages.
    origin: str = POSTGRES_URL_ENV

    @property
    def password_in_env(self) -> bool:
        return bool(os.environ.get(POSTGRES_PASSWORD_ENV))

    def describe(self) -> str:
        """user@host:port/database: what the server is, without the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def connect_kwargs(self, application_name: str) -> dict[str, object]:
        """Keyword arguments for psycopg2.connect (libpq reads the passfile itself)."""
        kwargs: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.database,
            "connect_timeout": 10,
            "application_name": application_name,
        }
        if self.password_in_env:
            kwargs["password"] = os.environ[POSTGRES_PASSWORD_ENV]
        elif self.passfile is not None:
            kwargs["passfile"] = str(self.passfile)
        return kwargs


def team_settings_path(home: Path) -> Path:
    """The file `bayesline team up` writes: its cluster's URL and passfile, no password."""
    return home / "team" / "postgres.json"


def postgres_settings(home: Path) -> PostgresSettings | None:
    """The team's PostgreSQL, or None on a laptop. BAYESLINE_POSTGRES_URL wins over the
    cluster `bayesline team up` started under `home` (BAYESLINE_HOME)."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if url:
        passfile = os.environ.get(POSTGRES_PASSFILE_ENV, "").strip()
        return parse_postgres_url(url, Path(passfile) if passfile else None, POSTGRES_URL_ENV)
    recorded = team_settings_path(home)
    if not recorded.is_file():
        return None
    try:
        saved = json.loads(recorded.read_text())
        return parse_postgres_url(saved["url"], Path(saved["passfile"]), str(recorded))
    except (ValueError, KeyError) as exc:
        raise DeploymentError(
            f"{recorded} is damaged ({exc}): run `bayesline team up` to write it again."
        ) from exc


def parse_postgres_url(url: str, passfile: Path | None, origin: str) -> PostgresSettings:
    """Check a `postgresql://user@host:port/database` URL and its passfile."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname or not parts.username:
        raise DeploymentError(
            f"{origin} must look like postgresql://user@host:5432/database, not {_redacted(url)}."
        )
    if parts.password is not None:
        raise DeploymentError(
            f"{origin} holds a password: take it out of the URL (URLs end up in logs) and put "
            f"it in {POSTGRES_PASSWORD_ENV} or in a 0600 pgpass file named by "
            f"{POSTGRES_PASSFILE_ENV}."
        )
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise DeploymentError(f"{origin} names no database: add it, as in .../dagster.")
    if passfile is not None:
        _check_passfile(passfile.resolve())
    return PostgresSettings(
        host=parts.hostname,
        port=parts.port or 5432,
        user=unquote(parts.username),
        database=database,
        passfile=passfile.resolve() if passfile else None,
        origin=origin,
    )


def _check_passfile(path: Path) -> None:
    if not path.is_file():
        raise DeploymentError(
            f"The PostgreSQL password file {path} does not exist: write it (pgpass format, "
            f"host:port:database:user:password) or set {POSTGRES_PASSWORD_ENV}."
        )
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise DeploymentError(
            f"The PostgreSQL password file {path} can be read by others: `chmod 600 {path}`."
        )


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return repr(url)
    return repr(url.replace(f":{parts.password}@", ":***@", 1))
