"""A real S3-compatible server for the object-storage tests: one Ceph RGW per test session.

Debian's Ceph runs as one monitor, one memstore OSD and one RADOS Gateway, every one bound to
127.0.0.1 and kept in a temporary folder; it answers in about 20 s. A user with generated keys
and a bucket are created, and the session's tests point BAYESLINE_LAKE_URL at a fresh prefix
of that bucket. At the end every daemon is stopped by its pid and the folder deleted.

Without Debian's ceph packages the tests skip saying so, unless BAYESLINE_REQUIRE_S3=1 (CI
installs them) makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CEPH_PROGRAMS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
REQUIRE_S3_ENV = "BAYESLINE_REQUIRE_S3"
INSTALL_HINT = "apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common"
DAEMONS = ("mon.a", "osd.0", "client.rgw.a")


@dataclass(frozen=True)
class S3Server:
    """Where the session's gateway answers and the credentials of its one user."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "default"

    def filesystem(self):
        """An s3fs filesystem on the server, no cache (tests look at what is really there)."""
        import s3fs  # type: ignore[import-untyped]  # s3fs ships no type information

        return s3fs.S3FileSystem(
            key=self.access_key,
            secret=self.secret_key,
            endpoint_url=self.endpoint,
            client_kwargs={"region_name": self.region},
            skip_instance_cache=True,
        )


def ceph_missing() -> str | None:
    """Why the gateway cannot start here, or None."""
    absent = [name for name in CEPH_PROGRAMS if shutil.which(name) is None]
    if absent:
        return f"Debian's Ceph is absent ({', '.join(absent)}; `{INSTALL_HINT}`)"
    try:
        import s3fs  # noqa: F401
    except ImportError:
        return "s3fs is not installed (`pip install -e '.[s3]'`)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CephGateway:
    """One monitor, one memstore OSD and one RADOS Gateway under `root`, on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "ceph.conf"
        self.fsid = str(uuid.uuid4())
        self.mon_port = free_port()
        self.rgw_port = free_port()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.rgw_port}"

    def start(self) -> None:
        for folder in ("run", "log", "mon", "osd", "rgw"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self._config())
        # --addv with v1: plain --add takes any port but 6789 for msgr2, which is off here.
        self._run("monmaptool", "--create", "--addv", "a", f"[v1:127.0.0.1:{self.mon_port}]",
                  "--fsid", self.fsid, str(self.root / "monmap"))  # fmt: skip
        self._run("ceph-authtool", "--create-keyring", str(self.root / "keyring"), "--gen-key",
                  "-n", "mon.", "--cap", "mon", "allow *")  # fmt: skip
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(self.root / "monmap"),
                  "--keyring", str(self.root / "keyring"))  # fmt: skip
        self._daemon("ceph-mon", "-i", "a")
        # The OSD is placed in the CRUSH map here, not by the OSD at boot: at boot it sends
        # that command before it has the monitor's map, with a zero cluster fsid, about half
        # the time, and the monitor refuses it ("wrong fsid"; the osd log shows the zero fsid).
        osd_uuid = str(uuid.uuid4())
        osd_id = self._mon_command("osd", "create", osd_uuid).strip()
        self._mon_command("osd", "crush", "add", f"osd.{osd_id}", "1.0", "root=default")
        (self.root / "osd" / f"ceph-{osd_id}").mkdir()  # memstore asserts it exists
        self._run("ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        self._daemon("ceph-osd", "-i", osd_id)
        self._wait_for_osd()
        self._daemon("radosgw", "-n", "client.rgw.a")
        self._wait_for_gateway()

    def create_user(self, access_key: str, secret_key: str) -> None:
        self._run("radosgw-admin", "-n", "client.rgw.a", "user", "create", "--uid=bayesline",
                  "--display-name=bayesline tests", f"--access-key={access_key}",
                  f"--secret={secret_key}", quiet=True)  # fmt: skip

    def stop(self) -> list[int]:
        """Stop every daemon by its pid file; returns the pids still alive after 20 s."""
        pids = [pid for pid in (self._pid(name) for name in reversed(DAEMONS)) if pid]
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.2)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        return [pid for pid in pids if _alive(pid)]

    def daemon_pids(self) -> list[int]:
        return [pid for pid in (self._pid(name) for name in DAEMONS) if pid]

    def _pid(self, name: str) -> int | None:
        path = self.root / "run" / f"{name}.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def _run(self, program: str, *args: str, timeout: float = 120, quiet: bool = False) -> str:
        command = [program, "-c", str(self.conf), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            # radosgw-admin prints the user's keys: never put its output in a failure message.
            said = "(output withheld)" if quiet else (done.stderr or done.stdout).strip()[-600:]
            raise RuntimeError(f"{program} {args[:2]} failed ({done.returncode}): {said}")
        return "" if quiet else done.stdout

    def _mon_command(self, *args: str, attempts: int = 5) -> str:
        """`ceph <args>`, tried again on failure: the `ceph` client, like the OSD, may send its
        first command before it has the monitor's map and be refused ("wrong fsid"). Every
        command used here is idempotent (`osd create` with a given uuid returns the same id)."""
        for attempt in range(1, attempts + 1):
            try:
                return self._run("ceph", *args, timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                if attempt == attempts:
                    raise
                time.sleep(attempt)
        raise AssertionError("unreachable")

    def _daemon(self, program: str, *args: str) -> None:
        """Start a daemon: it forks and writes its pid file; its output goes to its log, and
        no pipe of ours stays open in it."""
        command = [program, "-c", str(self.conf), *args]
        code = subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=60,
        ).returncode  # fmt: skip
        if code != 0:
            logs = sorted((self.root / "log").glob("*.log"), key=lambda p: p.stat().st_mtime)
            tail = logs[-1].read_text(errors="replace")[-1500:] if logs else "(no log)"
            raise RuntimeError(f"{program} exited with {code}; its log ends:\n{tail}")

    def _wait_for_osd(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "1 up" in self._mon_command("osd", "stat"):
                return
            time.sleep(1)
        raise RuntimeError(f"the OSD did not come up in {timeout_s:.0f} s; see {self.root}/log")

    def _wait_for_gateway(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answers (anonymous requests may be refused): it is up
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"RGW did not answer in {timeout_s:.0f} s; see {self.root}/log")

    def _config(self) -> str:
        root = self.root
        return f"""[global]
fsid = {self.fsid}
mon initial members = a
mon host = v1:127.0.0.1:{self.mon_port}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd crush update on start = false
osd class update on start = false
osd objectstore = memstore
memstore device bytes = 1073741824
run dir = {root}/run
log file = {root}/log/$name.log
admin socket = {root}/run/$name.asok
pid file = {root}/run/$name.pid
mon data = {root}/mon/$cluster-$id
osd data = {root}/osd/$cluster-$id
keyring = {root}/keyring
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{self.rgw_port}
rgw data = {root}/rgw
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A daemon that exited but is not reaped yet is a zombie: gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def listening_addresses(pids: list[int]) -> list[str]:
    """The TCP addresses (host:port) the processes `pids` listen on, as `ss` reports them."""
    shown = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [
        line.split()[3] for line in shown.splitlines() if any(f"pid={pid}," in line for pid in pids)
    ]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """The session's Ceph RGW with one user and one bucket; stopped by pid at the end."""
    reason = ceph_missing()
    if reason:
        if os.environ.get(REQUIRE_S3_ENV) == "1":
            pytest.fail(f"{REQUIRE_S3_ENV}=1 but {reason}")
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="bayesline-rgw-"))
    gateway = CephGateway(root)
    try:
        gateway.start()
        server = S3Server(
            endpoint=gateway.endpoint,
            access_key=secrets.token_hex(10).upper(),
            secret_key=secrets.token_urlsafe(30),
            bucket="bayesline-tests",
        )
        gateway.create_user(server.access_key, server.secret_key)
        server.filesystem().mkdir(server.bucket)
        exposed = [a for a in listening_addresses(gateway.daemon_pids()) if "127.0.0.1" not in a]
        if exposed:
            pytest.fail(f"Ceph listens beyond loopback on {exposed}; fix the fixture's ceph.conf")
        yield server
    finally:
        left = gateway.stop()
        shutil.rmtree(root, ignore_errors=True)
        if left:
            pytest.fail(f"Ceph daemons {left} survived SIGKILL")
