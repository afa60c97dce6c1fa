"""A real PostgreSQL for the team deployment tests: one private cluster per test session.

Started by the same code as `bayesline team up` (Debian's pg_createcluster), in a folder the
`postgres` user can reach, and deleted at the end of the session. Each test gets a fresh
database on it, pointed at through BAYESLINE_POSTGRES_URL as a teammate's machine would be.
Without Debian's PostgreSQL (or root) the tests skip saying so, unless
BAYESLINE_REQUIRE_POSTGRES=1 (CI installs it) makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from deployment.cluster import TeamCluster, team_down, team_up
from deployment.settings import (
    POSTGRES_PASSFILE_ENV,
    POSTGRES_URL_ENV,
    PostgresSettings,
    parse_postgres_url,
)


def _quiet(_message: str) -> None:
    """Discard a progress message."""


def postgres_missing() -> str | None:
    """Why the private cluster cannot start here, or None."""
    if shutil.which("pg_createcluster") is None:
        return "Debian's PostgreSQL is absent (`apt-get install postgresql`)"
    if os.geteuid() != 0:
        return "pg_createcluster needs root to create a cluster"
    return None


def traversable_tmp_dir(prefix: str) -> Path:
    """A scratch folder the `postgres` user can enter (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def team_cluster() -> Iterator[PostgresSettings]:
    """The session's private PostgreSQL cluster (as `bayesline team up` makes it)."""
    reason = postgres_missing()
    if reason:
        if os.environ.get("BAYESLINE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"BAYESLINE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    home = traversable_tmp_dir("bayesline-pg-")
    cluster = TeamCluster(home)
    try:
        yield team_up(cluster, _quiet)
    finally:
        team_down(cluster, drop=True, say=_quiet)
        shutil.rmtree(home, ignore_errors=True)


def connect(settings: PostgresSettings, database: str | None = None):
    kwargs = settings.connect_kwargs(application_name="bayesline tests")
    if database:
        kwargs["dbname"] = database
    con = psycopg2.connect(**kwargs)
    con.autocommit = True
    return con


@contextlib.contextmanager
def fresh_database(
    cluster: PostgresSettings, env: pytest.MonkeyPatch
) -> Iterator[PostgresSettings]:
    """A new database on `cluster`, set in `env` as the team deployment; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = connect(cluster)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    admin.close()
    url = f"postgresql://{cluster.user}@{cluster.host}:{cluster.port}/{name}"
    env.setenv(POSTGRES_URL_ENV, url)
    env.setenv(POSTGRES_PASSFILE_ENV, str(cluster.passfile))
    try:
        yield parse_postgres_url(url, cluster.passfile, POSTGRES_URL_ENV)
    finally:
        admin = connect(cluster)
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def team_database(
    team_cluster: PostgresSettings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PostgresSettings]:
    """A fresh database on the session's cluster, set as this test's team deployment."""
    with fresh_database(team_cluster, monkeypatch) as database:
        yield database
