"""The Dagster instance config (`dagster.yaml` in DAGSTER_HOME) for this deployment.

On a laptop it is the repository's `dagster.yaml`, byte for byte (SQLite under DAGSTER_HOME).
In a team deployment the same file gains a `storage: postgres:` section: runs, event logs and
schedules, and so the concurrency pool, live in the team's PostgreSQL. The password never goes
into the file (the webserver shows the instance config): Dagster reads it from the environment,
or libpq from the 0600 pgpass file the file names.
"""

from __future__ import annotations

import json
from pathlib import Path

from deployment.atomic_files import write_text_atomically
from deployment.settings import POSTGRES_PASSWORD_ENV, PostgresSettings

#: SQLAlchemy 2.1 takes a bare `postgresql://` to mean psycopg 3, which fails on Dagster's
#: NOTIFY; psycopg2 is the driver dagster-postgres is built and tested with.
SQLALCHEMY_SCHEME = "postgresql+psycopg2"


def instance_yaml(template: str, settings: PostgresSettings | None) -> str:
    """The instance config: `template` (the repository's dagster.yaml), plus PostgreSQL
    storage when `settings` names a team server."""
    if settings is None:
        return template
    return template.rstrip("\n") + "\n\n" + _storage_section(settings)


def _storage_section(settings: PostgresSettings) -> str:
    lines = [
        "# The team deployment (BAYESLINE_POSTGRES_URL, or `bayesline team up`): runs, event",
        "# logs, schedules and the concurrency pool live in PostgreSQL. No password here.",
        "storage:",
        "  postgres:",
        "    postgres_db:",
        f"      hostname: {json.dumps(settings.host)}",
        f"      port: {settings.port}",
        f"      username: {json.dumps(settings.user)}",
        f"      db_name: {json.dumps(settings.database)}",
        f"      scheme: {SQLALCHEMY_SCHEME}",
    ]
    if settings.password_in_env:
        lines.append(f"      password: {{env: {POSTGRES_PASSWORD_ENV}}}")
    elif settings.passfile is not None:
        lines += ["      params:", f"        passfile: {json.dumps(str(settings.passfile))}"]
    return "\n".join(lines) + "\n"


def write_instance_yaml(
    dagster_home: Path, template: Path, settings: PostgresSettings | None
) -> Path:
    """Write DAGSTER_HOME/dagster.yaml for this deployment, only if it changed."""
    wanted = instance_yaml(template.read_text(), settings)
    target = dagster_home / "dagster.yaml"
    if target.is_file() and target.read_text() == wanted:
        return target
    write_text_atomically(target, wanted)  # a daemon reading it sees the old file or the new
    return target
