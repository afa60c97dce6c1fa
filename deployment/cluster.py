"""A private PostgreSQL cluster for trying the team deployment on one machine.

`bayesline team up` creates it with Debian's `postgresql` package (pg_createcluster): data under
BAYESLINE_HOME/team/postgres, owned by the `postgres` user, listening on 127.0.0.1 only, local
socket logins for `postgres` alone. It holds one role and one database for Dagster and the lake
lock; the role's password is generated, written to a 0600 pgpass file, and sent to the server
only as a SCRAM verifier, so it appears in no command line, log or SQL statement.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deployment.atomic_files import write_text_atomically
from deployment.errors import BayeslineError
from deployment.settings import (
    PostgresSettings,
    parse_postgres_url,
    postgres_port,
    team_settings_path,
)

ROLE = "bayesline"
DATABASE = "dagster"
PG_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = "install Debian's PostgreSQL (`apt-get install postgresql`), then run it again"


class ClusterError(BayeslineError):
    """The private cluster could not be created, started or stopped; says what to do."""


@dataclass(frozen=True)
class TeamCluster:
    """The private cluster of the warehouse at `home` (BAYESLINE_HOME)."""

    home: Path

    @property
    def name(self) -> str:
        """A cluster name unique to this warehouse (pg_createcluster's names are machine-wide)."""
        return "bayesline_" + hashlib.sha256(str(self.home).encode()).hexdigest()[:12]

    @property
    def team_dir(self) -> Path:
        return self.home / "team"

    @property
    def data_dir(self) -> Path:
        return self.team_dir / "postgres"

    @property
    def passfile(self) -> Path:
        return self.team_dir / "pgpass"

    @property
    def settings_path(self) -> Path:
        return team_settings_path(self.home)


@dataclass(frozen=True)
class ClusterState:
    version: str
    port: int
    running: bool


def installed_version() -> str:
    """The newest PostgreSQL major version Debian installed, or ClusterError saying how."""
    if shutil.which("pg_createcluster") is None or shutil.which("pg_ctlcluster") is None:
        raise ClusterError(f"pg_createcluster is missing: {INSTALL_HINT}.")
    versions = sorted(
        (p.name for p in PG_ROOT.glob("*") if (p / "bin" / "postgres").is_file()), key=float
    )
    if not versions:
        raise ClusterError(f"no PostgreSQL server under {PG_ROOT}: {INSTALL_HINT}.")
    return versions[-1]


def cluster_state(cluster: TeamCluster) -> ClusterState | None:
    """The cluster as pg_lsclusters sees it, or None if it was never created."""
    listed = _run(["pg_lsclusters", "--json"]).stdout
    for entry in json.loads(listed or "[]"):
        if entry["cluster"] == cluster.name:
            return ClusterState(str(entry["version"]), int(entry["port"]), bool(entry["running"]))
    return None


def team_up(cluster: TeamCluster, say: Callable[[str], None]) -> PostgresSettings:
    """Create (once), start (if stopped) and set up the cluster; returns its settings."""
    version = installed_version()
    _require_root()
    state = cluster_state(cluster)
    if state is None:
        state = _create(cluster, version, say)
    if not state.running:
        _run(["pg_ctlcluster", state.version, cluster.name, "start"])
        say(f"Started PostgreSQL {state.version} cluster {cluster.name} on 127.0.0.1:{state.port}")
    else:
        say(f"PostgreSQL cluster {cluster.name} already runs on 127.0.0.1:{state.port}")
    if not cluster.passfile.is_file():
        _set_up_role(cluster, state)
        say(f"Role {ROLE} and database {DATABASE} ready; password in {cluster.passfile} (0600)")
    return _record(cluster, state)


def team_down(cluster: TeamCluster, drop: bool, say: Callable[[str], None]) -> None:
    """Stop the cluster (its data stays); with `drop`, delete it and go back to the laptop."""
    state = cluster_state(cluster) if shutil.which("pg_lsclusters") else None
    if state is None:
        say("No PostgreSQL cluster of this warehouse exists: nothing to stop.")
    elif drop:
        _require_root()
        _run(["pg_dropcluster", state.version, cluster.name, "--stop"])
        say(f"Deleted PostgreSQL cluster {cluster.name} and its Dagster run history.")
    elif state.running:
        _require_root()
        _run(["pg_ctlcluster", state.version, cluster.name, "stop"])
        say(f"Stopped PostgreSQL cluster {cluster.name}; `bayesline team up` starts it again.")
    else:
        say(f"PostgreSQL cluster {cluster.name} is already stopped.")
    if drop:
        for path in (cluster.settings_path, cluster.passfile):
            path.unlink(missing_ok=True)
        shutil.rmtree(cluster.data_dir, ignore_errors=True)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise ClusterError(
            "Debian's pg_createcluster and pg_ctlcluster manage clusters as root: run "
            "`sudo bayesline team ...`, or point BAYESLINE_POSTGRES_URL at your team's server."
        )


def _create(cluster: TeamCluster, version: str, say: Callable[[str], None]) -> ClusterState:
    postgres = pwd.getpwnam("postgres")
    cluster.data_dir.mkdir(parents=True, exist_ok=True)
    os.chown(cluster.data_dir, postgres.pw_uid, postgres.pw_gid)
    _check_reachable(cluster.data_dir, postgres)
    port = postgres_port() or _free_port()
    _run(
        [
            "pg_createcluster", version, cluster.name,
            "--port", str(port),
            "--datadir", str(cluster.data_dir / "data"),
            "--logfile", str(cluster.data_dir / "postgresql.log"),
            "--start-conf", "manual",  # a trial cluster: started by `team up`, not at boot
            "--",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
        ]
    )  # fmt: skip
    # Loopback only (the default, `localhost`, may also mean ::1 or what /etc/hosts says).
    # (pg_createcluster's --pgoption and pg_conftool write this value unquoted: a syntax error.)
    conf = Path("/etc/postgresql") / version / cluster.name / "postgresql.conf"
    with conf.open("a") as handle:  # the last setting wins
        handle.write("\n# Bayesline: loopback only\nlisten_addresses = '127.0.0.1'\n")
    say(f"Created PostgreSQL {version} cluster {cluster.name} in {cluster.data_dir}")
    return ClusterState(version, port, running=False)


def _check_reachable(path: Path, postgres: pwd.struct_passwd) -> None:
    """PostgreSQL runs as `postgres`, which must be able to walk down to its data."""
    for folder in (path, *path.parents):
        mode = folder.stat()
        if mode.st_uid == postgres.pw_uid:
            continue
        allowed = mode.st_mode & stat.S_IXOTH or (
            mode.st_gid == postgres.pw_gid and mode.st_mode & stat.S_IXGRP
        )
        if not allowed:
            raise ClusterError(
                f"PostgreSQL runs as the postgres user, which cannot enter {folder}: allow it "
                f"(`chmod o+x {folder}`) or set BAYESLINE_HOME to a folder it can reach."
            )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]  # socket's address is a tuple of Any
        return port


def _set_up_role(cluster: TeamCluster, state: ClusterState) -> None:
    """The role (password as a SCRAM verifier, allowed to create databases) and its database;
    then the 0600 pgpass file."""
    password = secrets.token_urlsafe(24)
    verifier = scram_sha256_verifier(password)
    sql = f"""
SELECT format('CREATE ROLE %I LOGIN CREATEDB', '{ROLE}')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}')\\gexec
ALTER ROLE {ROLE} PASSWORD '{verifier}';
SELECT format('CREATE DATABASE %I OWNER %I', '{DATABASE}', '{ROLE}')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE}')\\gexec
"""
    _psql_as_postgres(state, sql)
    cluster.team_dir.mkdir(parents=True, exist_ok=True)
    # Any database: the role may own more than Dagster's (one per warehouse, say).
    entry = f"127.0.0.1:{state.port}:*:{ROLE}:{password}\n"
    write_text_atomically(cluster.passfile, entry, private=True)


def scram_sha256_verifier(password: str, iterations: int = 4096) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802, RFC 7677)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    encoded = [base64.b64encode(part).decode() for part in (salt, stored_key, server_key)]
    return f"SCRAM-SHA-256${iterations}:{encoded[0]}${encoded[1]}:{encoded[2]}"


def _psql_as_postgres(state: ClusterState, sql: str) -> None:
    """Run SQL as the cluster's superuser over the local socket; the SQL goes on stdin."""
    command = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    _run([*command, "-p", str(state.port), "-d", "postgres"], stdin=sql)


def _record(cluster: TeamCluster, state: ClusterState) -> PostgresSettings:
    """Write the settings file every later command reads (no password in it)."""
    url = f"postgresql://{ROLE}@127.0.0.1:{state.port}/{DATABASE}"
    settings = parse_postgres_url(url, cluster.passfile, str(cluster.settings_path))
    payload = json.dumps({"url": url, "passfile": str(cluster.passfile)}, indent=2)
    write_text_atomically(cluster.settings_path, payload + "\n")
    return settings


def _run(command: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ClusterError(f"{command[0]} is missing: {INSTALL_HINT}.") from exc
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise ClusterError(
            f"`{' '.join(command[:3])} ...` failed: {said[-1] if said else done.returncode}"
        )
    return done
