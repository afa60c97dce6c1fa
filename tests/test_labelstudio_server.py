"""The managed Label Studio server, tested against the real thing (no mocks)."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import sqlite3
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
from label_studio_sdk.core.api_error import ApiError
from label_studio_sdk.types import AllRolesProjectList

from labeling.accounts import (
    AccountError,
    login_session,
    new_admin_credentials,
    signup_with_invite,
)
from labeling.client import admin_credentials, api_token, client, connect, create_labeler
from labeling.empty_database import DATABASE_NAME, empty_database_path, seed_data_dir
from labeling.install import ensure_installed
from labeling.process import ServerState, free_local_port, signing_key, start, status, stop
from labeling.server_settings import LabelStudioError, LabelStudioSettings

LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text"><Choice value="neg"/><Choice value="pos"/></Choices>
</View>"""

Server = tuple[LabelStudioSettings, ServerState]


def listening_addresses(port: int) -> list[str]:
    """Addresses with a TCP socket listening on `port`, read from /proc/net/tcp{,6}."""
    found = []
    for table, v6 in ((Path("/proc/net/tcp"), False), (Path("/proc/net/tcp6"), True)):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if v6:
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.append(str(ipaddress.IPv6Address(words)))
            else:
                found.append(str(ipaddress.IPv4Address(raw[::-1])))
    return found


def ss_local_addresses(port: int) -> list[str] | None:
    """Local addresses `ss -ltn` shows listening on `port`, or None without `ss`."""
    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    local = [line.split()[3] for line in out.splitlines() if line.strip()]
    return [a.rsplit(":", 1)[0] for a in local if a.rsplit(":", 1)[1] == str(port)]


def test_settings_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAYESLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BAYESLINE_LABELSTUDIO_VENV", str(tmp_path / "ls-venv"))
    monkeypatch.delenv("BAYESLINE_LABELSTUDIO_PORT", raising=False)
    settings = LabelStudioSettings.from_env()
    assert settings.data_dir == tmp_path / "home" / "labelstudio"
    assert settings.document_root == tmp_path / "home"
    assert settings.venv == tmp_path / "ls-venv"
    assert settings.url == "http://127.0.0.1:8089"
    monkeypatch.setenv("BAYESLINE_LABELSTUDIO_PORT", "9123")
    assert LabelStudioSettings.from_env().url == "http://127.0.0.1:9123"
    with pytest.raises(ValueError, match="loopback"):
        LabelStudioSettings(data_dir=tmp_path, host="0.0.0.0")


def test_admin_credentials_from_env_or_generated() -> None:
    given = new_admin_credentials(
        {"LABEL_STUDIO_USERNAME": "ann@example.com", "LABEL_STUDIO_PASSWORD": "s3cret-pass"}
    )
    assert (given.username, given.password, given.password_generated) == (
        "ann@example.com",
        "s3cret-pass",
        False,
    )
    generated = new_admin_credentials({})
    assert generated.password_generated and len(generated.password) >= 30
    assert generated.password not in repr(generated)
    assert new_admin_credentials({}).password != generated.password
    with pytest.raises(AccountError, match="email"):
        new_admin_credentials({"LABEL_STUDIO_USERNAME": "admin"})


@pytest.mark.labelstudio
def test_listens_on_loopback_only(labelstudio: Server) -> None:
    settings, state = labelstudio
    assert state.running and state.url == settings.url
    assert httpx.get(f"{settings.url}/health/", timeout=5).json() == {"status": "UP"}
    assert listening_addresses(settings.port) == ["127.0.0.1"]
    ss = ss_local_addresses(settings.port)
    assert ss is None or ss == ["127.0.0.1"], ss


@pytest.mark.labelstudio
def test_sdk_client_lists_and_creates_projects(labelstudio: Server) -> None:
    settings, _ = labelstudio
    with connect(settings) as ls:
        assert ls.users.whoami().email == admin_credentials(settings).username
        project = ls.projects.create(title="bayesline smoke", label_config=LABEL_CONFIG)
        assert project.id is not None
        try:
            # The SDK's pager leaves its item type unbound; it yields AllRolesProjectList.
            projects: Iterable[AllRolesProjectList] = ls.projects.list()
            assert project.id in [p.id for p in projects]
            ls.projects.import_tasks(
                project.id,
                # The SDK types each task as an ImportApiRequest model; it sends plain dicts as
                # they are.
                request=[{"text": "great"}, {"text": "awful"}],  # type: ignore[list-item]
                return_task_ids=True,
            )
            assert len(list(ls.tasks.list(project=project.id))) == 2
        finally:
            ls.projects.delete(project.id)


@pytest.mark.labelstudio
def test_serves_local_files_under_the_document_root(labelstudio: Server) -> None:
    settings, _ = labelstudio
    images = settings.document_root / "images"
    images.mkdir(exist_ok=True)
    (images / "cat.png").write_bytes(b"\x89PNG fake image bytes")
    admin = admin_credentials(settings)
    with connect(settings) as ls:
        project = ls.projects.create(title="local files", label_config=LABEL_CONFIG)
        assert project.id is not None
        try:
            ls.import_storage.local.create(project=project.id, path=str(images))
            with login_session(settings.url, admin.username, admin.password) as session:
                served = session.get("/data/local-files/", params={"d": "images/cat.png"})
                outside = session.get("/data/local-files/", params={"d": "../../etc/passwd"})
            assert served.status_code == 200
            assert served.content == b"\x89PNG fake image bytes"
            assert outside.status_code != 200
            with pytest.raises(ApiError):
                ls.import_storage.local.create(project=project.id, path="/etc")
        finally:
            ls.projects.delete(project.id)


@pytest.mark.labelstudio
def test_env_overrides_the_stored_token(
    labelstudio: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = labelstudio
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-a-valid-token")
    assert api_token(settings) == "not-a-valid-token"
    with httpx.Client() as http, pytest.raises(ApiError) as raised:
        client(settings, http=http).projects.list()
    assert raised.value.status_code == 401


@pytest.mark.labelstudio
def test_secrets_only_in_the_0600_credentials_file(labelstudio: Server) -> None:
    settings, state = labelstudio
    credentials = admin_credentials(settings)
    token = api_token(settings)
    assert token == credentials.token and token.count(".") == 2  # a JWT personal access token
    assert stat.S_IMODE(settings.credentials_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700
    assert state.token_path == settings.credentials_path
    assert stat.S_IMODE((settings.data_dir / "secret_key").stat().st_mode) == 0o600
    log = settings.log_path.read_text(errors="replace")
    for secret in (token, credentials.password, signing_key(settings)):
        assert secret not in log
        assert secret not in repr(state) and secret not in repr(status(settings))
        assert secret not in repr(credentials)


@pytest.mark.labelstudio
def test_start_and_install_are_idempotent(labelstudio: Server) -> None:
    settings, _ = labelstudio
    before = status(settings)
    log_before = settings.log_path.read_bytes()
    again = start(settings)
    assert (again.pid, again.running, again.admin_created) == (before.pid, True, False)
    # A second `label-studio start` would have written its start-up banner to the log.
    started_again = settings.log_path.read_bytes()[len(log_before) :]
    assert b"Starting development server" not in started_again
    installed = [settings.venv / name for name in ("install.log", ".bayesline-requirements.sha256")]
    stamps = [path.stat().st_mtime_ns for path in installed]
    template = empty_database_path(settings.venv).stat().st_mtime_ns
    assert ensure_installed(settings) == settings.executable
    assert [path.stat().st_mtime_ns for path in installed] == stamps  # pip did not run again
    assert empty_database_path(settings.venv).stat().st_mtime_ns == template


@pytest.mark.labelstudio
def test_labeler_logs_in_and_is_not_admin(labelstudio: Server) -> None:
    settings, _ = labelstudio
    admin = admin_credentials(settings)
    with connect(settings) as ls:
        invite = ls.organizations.invites.get_invite_link().invite_url
        admin_org = ls.users.whoami().active_organization
    create_labeler(settings, "labeler@example.com", "labeler-pass-2024")

    with login_session(settings.url, "labeler@example.com", "labeler-pass-2024") as labeler:
        me = labeler.get("/api/current-user/whoami").json()
        assert me["email"] == "labeler@example.com"
        assert me["active_organization"] == admin_org
        refused = labeler.get("/admin/")
        assert refused.status_code == 302 and "/admin/login/" in refused.headers["location"]
    with login_session(settings.url, admin.username, admin.password) as session:
        assert session.get("/admin/").status_code == 200
    with (
        pytest.raises(AccountError, match="refused the login"),
        login_session(settings.url, "labeler@example.com", "wrong-password-2024"),
    ):
        pass
    # the invite link used (and logged by the server) was reset; signup needs a link
    with pytest.raises(AccountError, match="invite link"):
        signup_with_invite(settings.url, invite, "intruder@example.com", "intruder-pass-2024")
    with pytest.raises(AccountError, match="invite link"):
        signup_with_invite(settings.url, "/user/signup/", "intruder@example.com", "x-pass-2024")
    with pytest.raises(LabelStudioError, match="already exists"):
        create_labeler(settings, "labeler@example.com", "labeler-pass-2024")
    with pytest.raises(LabelStudioError, match=r"8.128 characters"):
        create_labeler(settings, "weak@example.com", "abc")
    with connect(settings) as ls:
        emails = {u.email for u in ls.users.list()}
    # Other tests share this server and add their own (simulated) users.
    assert {admin.username, "labeler@example.com"} <= emails
    assert "weak@example.com" not in emails


@pytest.mark.labelstudio
def test_a_new_data_dir_starts_from_the_installs_migrated_empty_database(
    labelstudio: Server, tmp_path: Path
) -> None:
    settings, _ = labelstudio
    template = empty_database_path(settings.venv)
    with sqlite3.connect(f"file:{template}?mode=ro", uri=True) as db:
        assert db.execute("SELECT count(*) FROM django_migrations").fetchone()[0] > 100
        assert db.execute("SELECT count(*) FROM htx_user").fetchone() == (0,)
    # Label Studio prints this when it has migrations to apply: the session's server had none.
    assert "Initializing database" not in settings.log_path.read_text(errors="replace")
    assert (settings.data_dir / DATABASE_NAME).stat().st_size > 0

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert seed_data_dir(settings.venv, fresh) is True
    assert (fresh / DATABASE_NAME).read_bytes() == template.read_bytes()
    (fresh / DATABASE_NAME).write_bytes(b"a team's own database")
    assert seed_data_dir(settings.venv, fresh) is False
    assert (fresh / DATABASE_NAME).read_bytes() == b"a team's own database"
    assert [p.name for p in fresh.iterdir()] == [DATABASE_NAME]


@pytest.mark.labelstudio
def test_start_refuses_a_busy_port(labelstudio: Server, tmp_path: Path) -> None:
    installed, _ = labelstudio
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        settings = LabelStudioSettings(
            data_dir=tmp_path / "ls",
            port=squatter.getsockname()[1],
            venv=installed.venv,
            document_root=tmp_path,
        )
        with pytest.raises(LabelStudioError, match="already in use"):
            start(settings)
    assert not settings.pid_path.exists()
    assert not status(settings).running


@pytest.mark.labelstudio
def test_stop_frees_the_port_and_restart_keeps_the_token(labelstudio: Server) -> None:
    settings, _ = labelstudio
    token = api_token(settings)
    assert stop(settings) is True
    after = status(settings)
    assert (after.running, after.pid) == (False, None)
    assert not settings.pid_path.exists()
    assert listening_addresses(settings.port) == []
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", settings.port)) != 0
    assert stop(settings) is False

    restarted = start(settings)
    assert restarted.running and not restarted.admin_created
    assert api_token(settings) == token
    with connect(settings) as ls:
        assert ls.users.whoami().email == restarted.username


def test_the_signing_key_is_kept_url_safe_and_private(tmp_path: Path) -> None:
    settings = LabelStudioSettings(data_dir=tmp_path / "ls", document_root=tmp_path)
    key = signing_key(settings)
    assert signing_key(settings) == key and len(key) >= 50
    assert set(key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert stat.S_IMODE((settings.data_dir / "secret_key").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("written", "taken_over"),
    [
        ("\nSECRET_KEY=k3y#with(odd)chars\n", "k3y#with(odd)chars"),
        ("\nSECRET_KEY=$unreadable\n\nSECRET_KEY=newer-key\n", "newer-key"),
        ("\nSECRET_KEY=$unreadable\n", None),
    ],
)
def test_a_key_label_studio_wrote_is_kept_if_it_can_be_read_back(
    tmp_path: Path, written: str, taken_over: str | None
) -> None:
    settings = LabelStudioSettings(data_dir=tmp_path / "ls", document_root=tmp_path)
    settings.data_dir.mkdir()
    (settings.data_dir / ".env").write_text(written)
    key = signing_key(settings)
    if taken_over:
        assert key == taken_over
    else:
        assert not key.startswith("$") and len(key) >= 50


@pytest.mark.labelstudio
def test_the_token_survives_a_restart_when_label_studio_cannot_keep_its_own_key(
    labelstudio: Server, tmp_path: Path
) -> None:
    installed, _ = labelstudio
    settings = LabelStudioSettings(
        data_dir=tmp_path / "ls",
        port=free_local_port(),
        venv=installed.venv,
        document_root=tmp_path,
    )
    # Left alone, Label Studio makes a new signing key on every start when it cannot read back
    # the one it saved in data_dir/.env: in the wild, a key that starts with '$'; here, an .env
    # it cannot write. Every stored token would then die with the restart.
    (settings.data_dir / ".env").mkdir(parents=True)
    try:
        start(settings)
        token = api_token(settings)
        stop(settings)
        restarted = start(settings)
        assert api_token(settings) == token
        with connect(settings) as ls:
            assert ls.users.whoami().email == restarted.username
    finally:
        stop(settings)
