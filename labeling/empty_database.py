"""A migrated, empty Label Studio database, made once per install and copied into new servers.

A new Label Studio data directory spends minutes on its first start applying some 300 Django
migrations to an empty SQLite file (105 s on a quiet 2-core machine, 4 min on a busy one). The
result holds no user, token or project, and nothing that depends on where it lives, so one copy
made next to the install serves every new data directory: its first start then takes seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from deployment.atomic_files import atomic_file, rename_durably
from deployment.errors import BayeslineError

#: The file name Label Studio gives its SQLite database inside a data directory.
DATABASE_NAME = "label_studio.sqlite3"
_TEMPLATE_DIR = "bayesline-empty-database"


class EmptyDatabaseError(BayeslineError):
    """Label Studio could not migrate an empty database."""


def empty_database_path(venv: Path) -> Path:
    """Where the install keeps its migrated, empty database."""
    return venv / _TEMPLATE_DIR / DATABASE_NAME


def prepare_empty_database(
    venv: Path, base_env: dict[str, str], progress: Callable[[str], None]
) -> Path:
    """Migrate an empty database with this install's Label Studio unless one exists already.

    The caller holds the install lock. The database is migrated in a private folder, then the
    folder is renamed into place: a killed preparation leaves nothing half migrated behind.
    """
    target = empty_database_path(venv)
    if target.is_file():
        return target
    progress("Preparing an empty Label Studio database (once per install, 1-3 minutes)")
    scratch = venv / f".{_TEMPLATE_DIR}-{uuid.uuid4().hex}"
    scratch.mkdir()
    try:
        _migrate(venv, scratch, base_env)
        rename_durably(scratch, target.parent)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _migrate(venv: Path, data_dir: Path, base_env: dict[str, str]) -> None:
    """Run Label Studio's own start-up migrations into `data_dir`, with no user and no server."""
    env = {
        **base_env,
        "HOME": str(data_dir),
        "DJANGO_DB": "sqlite",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        # A throwaway key: the migrations sign nothing, and the real key is never shared.
        "SECRET_KEY": uuid.uuid4().hex,
        "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
    }
    # Every `label-studio` command applies pending migrations before it does its own work;
    # `version` then only prints versions.
    command = [str(venv / "bin" / "label-studio"), "version", "--data-dir", str(data_dir)]
    log = data_dir / "migrate.log"
    with log.open("wb") as handle:
        result = subprocess.run(
            command,
            cwd=data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0 or not (data_dir / DATABASE_NAME).is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise EmptyDatabaseError(
            f"Label Studio could not migrate an empty database (exit code {result.returncode}); "
            f"reinstall it with `bayesline labelstudio install`. Its last lines:\n{tail}"
        )


def seed_data_dir(venv: Path, data_dir: Path) -> bool:
    """Give a data directory without a database a copy of the install's empty one.

    Returns whether it did. The copy lands under a temporary name and is renamed into place,
    so Label Studio never opens half a file.
    """
    database = data_dir / DATABASE_NAME
    template = empty_database_path(venv)
    if database.exists() or not template.is_file():
        return False
    with atomic_file(database) as partial:
        shutil.copyfile(template, partial)
    return True
