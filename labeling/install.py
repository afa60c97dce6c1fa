"""Install the pinned Label Studio into its own virtual environment, once per pin change."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from deployment.atomic_files import write_text_atomically
from labeling.empty_database import (
    EmptyDatabaseError,
    empty_database_path,
    prepare_empty_database,
)
from labeling.server_settings import LabelStudioInstallError, LabelStudioSettings, passed_env

_MARKER = ".bayesline-requirements.sha256"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _requirements_digest(settings: LabelStudioSettings) -> str:
    """The sha256 of the requirements file the venv must match."""
    return hashlib.sha256(settings.requirements.read_bytes()).hexdigest()


def _is_installed(settings: LabelStudioSettings, digest: str) -> bool:
    """Whether the venv has the executable and was installed from these requirements."""
    marker = settings.venv / _MARKER
    return (
        settings.executable.exists()
        and marker.exists()
        and marker.read_text(encoding="utf-8").strip() == digest
    )


def _run_logged(command: list[str], log: Path) -> None:
    """Run a command with its output appended to `log`; raise with the log's tail on failure."""
    with log.open("ab") as handle:
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log_tail(log)
        errors = [line for line in tail.splitlines() if line.startswith("ERROR:")]
        reason = errors[0] if errors else f"exit code {result.returncode}"
        raise LabelStudioInstallError(
            f"`{Path(command[0]).name} {' '.join(command[1:4])}` failed: {reason}\n"
            f"last lines of {log}:\n{tail}"
        )


def ensure_installed(
    settings: LabelStudioSettings, progress: Callable[[str], None] = print
) -> Path:
    """Install the pinned requirements and migrate an empty database, unless already done."""
    digest = _requirements_digest(settings)
    if _is_installed(settings, digest) and empty_database_path(settings.venv).is_file():
        return settings.executable
    settings.venv.mkdir(parents=True, exist_ok=True)
    with locked(settings.venv / ".install.lock"):
        if not _is_installed(settings, digest):
            _install(settings, digest, progress)
        base_env = passed_env()
        try:
            prepare_empty_database(settings.venv, base_env, progress)
        except EmptyDatabaseError as exc:
            raise LabelStudioInstallError(str(exc)) from exc
    return settings.executable


def _install(settings: LabelStudioSettings, digest: str, progress: Callable[[str], None]) -> None:
    """Create the venv and pip-install the requirements into it; the caller holds the lock."""
    # A database migrated by the previous pins may not suit the new ones.
    shutil.rmtree(empty_database_path(settings.venv).parent, ignore_errors=True)
    log = settings.venv / "install.log"
    log.write_text("", encoding="utf-8")
    python = settings.venv / "bin" / "python"
    if not python.exists():
        progress(f"Creating the Label Studio virtual environment {settings.venv}")
        _run_logged([sys.executable, "-m", "venv", str(settings.venv)], log)
    progress(
        f"Installing {settings.requirements.name} into {settings.venv} "
        "(about a minute, only when the pins change)"
    )
    started = time.monotonic()
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r"]
    _run_logged([*pip, str(settings.requirements)], log)
    if not settings.executable.exists():
        raise LabelStudioInstallError(f"{settings.executable} is missing after install")
    write_text_atomically(settings.venv / _MARKER, digest + "\n")
    progress(f"Label Studio installed in {time.monotonic() - started:.0f} s")


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a text file (empty when absent)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
