"""The managed Label Studio process: start (with an admin and an API token), status, stop.

One server per data directory, on a loopback address, in its own session so that `stop` ends
its whole process group.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from deployment.atomic_files import write_text_atomically
from labeling.accounts import (
    AccountError,
    Credentials,
    create_personal_access_token,
    load_credentials,
    new_admin_credentials,
    save_credentials,
)
from labeling.empty_database import seed_data_dir
from labeling.install import ensure_installed, locked, log_tail
from labeling.server_settings import LabelStudioError, LabelStudioSettings, passed_env

_MAX_LOG_BYTES = 20 * 1024 * 1024  # server.log is moved to server.log.1 past this, on start

# Servers started by this Python process, kept so they are reaped (no zombies, no warnings).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _quiet(_message: str) -> None:
    """Discard a progress message."""


@dataclass(frozen=True)
class ServerState:
    """What `start` and `status` report; holds the token's path, never the token."""

    url: str
    pid: int | None
    running: bool
    username: str | None
    token_path: Path
    log_path: Path
    admin_created: bool = False


def _read_pid(settings: LabelStudioSettings) -> int | None:
    """The pid in the pid file, if any."""
    try:
        return int(settings.pid_path.read_text(encoding="utf-8").strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_our_server(pid: int, settings: LabelStudioSettings) -> bool:
    """Whether `pid` is a live (not zombie) Label Studio serving this data directory."""
    if _exited(pid):
        _CHILDREN.pop(pid, None)
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in argv]
    return any(a.endswith("label-studio") for a in args) and str(settings.data_dir) in args


def _healthy(url: str, timeout_s: float = 2.0) -> bool:
    """Whether Label Studio's /health/ endpoint answers UP."""
    try:
        response = httpx.get(f"{url}/health/", timeout=timeout_s)
        return response.status_code == 200 and response.json().get("status") == "UP"
    except (httpx.HTTPError, ValueError):
        return False


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(host: str, port: int) -> bool:
    """Whether something already accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def signing_key(settings: LabelStudioSettings) -> str:
    """The key the server signs sessions and API tokens with, kept in data_dir/secret_key.

    Label Studio makes one itself when none is given and appends it to data_dir/.env, but one
    that starts with '$' (about one in fifty) is read back as a reference to another variable:
    the next start makes a new key and every stored token stops working. So we keep the key,
    URL-safe, taking over a usable one Label Studio already wrote so its tokens stay valid.
    """
    path = settings.data_dir / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = _key_label_studio_wrote(settings.data_dir / ".env") or secrets.token_urlsafe(50)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


def _key_label_studio_wrote(env_file: Path) -> str | None:
    """The newest SECRET_KEY in Label Studio's .env that it can read back, if any."""
    if not env_file.is_file():
        return None
    values = [
        line.partition("=")[2].strip()
        for line in env_file.read_text(encoding="utf-8").splitlines()
        if line.startswith("SECRET_KEY=")
    ]
    usable = [value for value in values if value and not value.startswith("$")]
    return usable[-1] if usable else None


def _server_env(settings: LabelStudioSettings, credentials: Credentials | None) -> dict[str, str]:
    """The server's whole environment (SQLite, no open signup or telemetry, local files)."""
    env = passed_env()
    env.update(
        SECRET_KEY=signing_key(settings),
        HOME=str(settings.data_dir),
        PYTHONUNBUFFERED="1",
        DJANGO_DB="sqlite",
        LABEL_STUDIO_BASE_DATA_DIR=str(settings.data_dir),
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(settings.document_root),
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        LABEL_STUDIO_SENTRY_DSN="",
        LABEL_STUDIO_FRONTEND_SENTRY_DSN="",
        LABEL_STUDIO_DEBUG="false",
    )
    if credentials is not None:
        env["LABEL_STUDIO_USERNAME"] = credentials.username
        env["LABEL_STUDIO_PASSWORD"] = credentials.password
    return env


def _state(settings: LabelStudioSettings, pid: int | None, running: bool) -> ServerState:
    """A ServerState for these settings."""
    credentials = load_credentials(settings.credentials_path)
    return ServerState(
        url=settings.url,
        pid=pid,
        running=running,
        username=credentials.username if credentials else None,
        token_path=settings.credentials_path,
        log_path=settings.log_path,
    )


def status(settings: LabelStudioSettings) -> ServerState:
    """Whether this data directory's server is running and answering."""
    pid = _read_pid(settings)
    alive = pid is not None and _is_our_server(pid, settings)
    return _state(settings, pid if alive else None, alive and _healthy(settings.url))


def _exited(pid: int) -> bool:
    """Whether `pid` has exited (reaped, or a zombie); reaps it when it is our child."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is not None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def _kill_group(pid: int, timeout_s: float) -> None:
    """SIGTERM the server's process group, wait, then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while not _exited(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # stragglers in the group, or a server ignoring SIGTERM
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(timeout=10)


def stop(settings: LabelStudioSettings, timeout_s: float = 30) -> bool:
    """Stop this data directory's server; False when none was running."""
    if not settings.data_dir.exists():
        return False
    with locked(settings.data_dir / ".server.lock"):
        pid = _read_pid(settings)
        running = pid is not None and _is_our_server(pid, settings)
        if pid is not None and running:
            _kill_group(pid, timeout_s)
        settings.pid_path.unlink(missing_ok=True)
        return running


def _wait_healthy(
    settings: LabelStudioSettings, process: subprocess.Popen[bytes], timeout_s: float
) -> None:
    """Wait until the new server answers; on exit or timeout kill it and raise with its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _CHILDREN.pop(process.pid, None)
            settings.pid_path.unlink(missing_ok=True)
            raise LabelStudioError(
                f"Label Studio exited with code {process.returncode} while starting; "
                f"last lines of {settings.log_path}:\n{log_tail(settings.log_path)}"
            )
        if _healthy(settings.url, timeout_s=1.0):
            return
        time.sleep(0.25)
    _kill_group(process.pid, 10)
    settings.pid_path.unlink(missing_ok=True)
    raise LabelStudioError(
        f"Label Studio did not answer on {settings.url}/health/ within {timeout_s:.0f} s; "
        f"last lines of {settings.log_path}:\n{log_tail(settings.log_path)}"
    )


def _spawn(settings: LabelStudioSettings, bootstrap: Credentials | None) -> subprocess.Popen[bytes]:
    """Start `label-studio start` in its own session, logging to data_dir/server.log."""
    command = [
        str(settings.executable),
        "start",
        "--no-browser",
        "--internal-host",
        settings.host,
        "--port",
        str(settings.port),
        "--data-dir",
        str(settings.data_dir),
    ]
    if settings.log_path.exists() and settings.log_path.stat().st_size > _MAX_LOG_BYTES:
        settings.log_path.replace(settings.log_path.with_name("server.log.1"))
    with settings.log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=settings.data_dir,
            env=_server_env(settings, bootstrap),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    write_text_atomically(settings.pid_path, f"{process.pid}\n")
    return process


def start(
    settings: LabelStudioSettings,
    # A data directory seeded with the install's empty database starts in seconds; one that
    # Label Studio must migrate itself takes minutes on a busy 2-core machine.
    timeout_s: float = 360,
    progress: Callable[[str], None] = _quiet,
) -> ServerState:
    """Start the server in the background (or return the running one) with an API token."""
    ensure_installed(settings, progress)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    with locked(settings.data_dir / ".server.lock"):
        credentials = load_credentials(settings.credentials_path)
        admin_created = credentials is None or credentials.token is None
        if credentials is None:
            credentials = new_admin_credentials()
            save_credentials(settings.credentials_path, credentials)
        pid = _read_pid(settings)
        if pid is not None and _is_our_server(pid, settings):
            if not _healthy(settings.url):
                raise LabelStudioError(
                    f"Label Studio (pid {pid}) runs but does not answer on {settings.url}; "
                    f"stop it and start again (log: {settings.log_path})"
                )
        else:
            settings.pid_path.unlink(missing_ok=True)
            if _port_in_use(settings.host, settings.port):
                raise LabelStudioError(
                    f"port {settings.port} on {settings.host} is already in use by another "
                    "program; set BAYESLINE_LABELSTUDIO_PORT to a free port"
                )
            progress(f"Starting Label Studio on {settings.url} (log: {settings.log_path})")
            seed_data_dir(settings.venv, settings.data_dir)
            process = _spawn(settings, credentials if admin_created else None)
            _wait_healthy(settings, process, timeout_s)
            pid = process.pid
        if credentials.token is None:
            try:
                token = create_personal_access_token(
                    settings.url, credentials.username, credentials.password
                )
            except AccountError as exc:
                raise LabelStudioError(
                    f"could not obtain an API token: {exc} (does {settings.data_dir} hold a "
                    f"database whose admin password differs from {settings.credentials_path}?)"
                ) from exc
            save_credentials(settings.credentials_path, credentials.with_token(token))
        return replace(_state(settings, pid, True), admin_created=admin_created)
