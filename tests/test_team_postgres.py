"""The team deployment against a real PostgreSQL: `bayesline team up/down`, the whole pipeline
with Dagster's storage there, and lake writers on different machines kept to one at a time.

The server is a private cluster of Debian's PostgreSQL (tests/postgres_fixtures.py); writers
are real processes, and "another machine" is a process with its own BAYESLINE_HOME, so no
file lock can be what keeps them apart.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from deployment.cluster import TeamCluster, cluster_state
from deployment.postgres import advisory_lock
from deployment.settings import POSTGRES_URL_ENV
from tests.conftest import REPO_ROOT
from tests.postgres_fixtures import connect, postgres_missing, traversable_tmp_dir
from tests.review_files import write_reviews
from warehouse.pause_points import PAUSE_AT_ENV, PAUSE_MARKER_ENV
from warehouse.storage import WRITER_LOCK_NAME, WriterBusyError, writer_lock

pytestmark = pytest.mark.slow

BAYESLINE = str(Path(sys.executable).with_name("bayesline"))
cli = CliRunner()
#: A lake writer on some machine: takes the writer lock of the warehouse at argv[1], holds it
#: argv[2] seconds, and says when it got and let go of it.
WRITER = """
import sys, time
from pathlib import Path
from warehouse.layout import WarehouseLayout
from warehouse.storage import writer_lock
print("started", flush=True)
with writer_lock(WarehouseLayout(Path(sys.argv[1]))):
    print(f"acquired {time.time():.6f}", flush=True)
    time.sleep(float(sys.argv[2]))
    print(f"released {time.time():.6f}", flush=True)
"""


def invoke(*args: str):
    return cli.invoke(app, list(args), env={"COLUMNS": "1000"}, catch_exceptions=False)


def start_writer(home: Path, hold_s: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), str(hold_s)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def times(output: str) -> dict[str, float]:
    words = (line.split() for line in output.splitlines())
    return {w[0]: float(w[1]) for w in words if len(w) == 2 and w[0] in ("acquired", "released")}


def lock_holders(settings) -> list[tuple[str, bool]]:
    """(application, granted) of every advisory lock on the team's database."""
    con = connect(settings)
    with con.cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name, l.granted FROM pg_locks l "
            "JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        rows = cursor.fetchall()
    con.close()
    return rows


@pytest.fixture
def landed(layout):
    write_reviews(layout.landing / "app_reviews" / "a1.csv", "a1", 160, malformed=2)
    write_reviews(layout.landing / "web_reviews" / "w1.csv", "w1", 220)
    return layout


def test_the_whole_pipeline_keeps_runs_event_logs_and_the_pool_in_postgresql(team_database, landed):
    done = invoke("materialize")
    assert done.exit_code == 0, done.output + done.stderr

    con = connect(team_database)
    with con.cursor() as cursor:
        cursor.execute("SELECT run_id, pipeline_name, status FROM runs")
        ((run_id, job, status),) = cursor.fetchall()
        cursor.execute(
            "SELECT DISTINCT asset_key FROM event_logs "
            "WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        )
        materialized = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            'SELECT "limit" FROM concurrency_limits '
            "WHERE concurrency_key = 'bayesline_warehouse_writer'"
        )
        pool = cursor.fetchall()
    con.close()
    assert (job, status) == ("bayesline_pipeline", "SUCCESS")
    assert {'["examples"]', '["published_splits"]', '["diagnosis"]'} <= materialized
    assert pool == [(1,)]
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    assert not (dagster_home / "history").exists(), "nothing went to SQLite on this machine"
    assert run_id[:8] in invoke("runs").stdout
    counted = invoke("sql", "SELECT count(*) FROM examples", "--format", "csv").stdout
    assert counted.splitlines()[1:] == ["380"]


def test_a_writer_on_another_machine_waits_for_the_run_holding_the_lock_until_it_is_killed(
    team_database, landed, tmp_path
):
    marker = tmp_path / "paused"
    env = {**os.environ, PAUSE_AT_ENV: "lake.file_staged", PAUSE_MARKER_ENV: str(marker)}
    holder = subprocess.Popen(
        [BAYESLINE, "materialize", "--select", "examples"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    other_machine = tmp_path / "other-machine-home"
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert holder.poll() is None, holder.stdout.read()
            assert time.monotonic() < deadline, "the run never reached its pause point"
            time.sleep(0.2)
        assert lock_holders(team_database) == [(WRITER_LOCK_NAME, True)]

        writer = start_writer(other_machine, hold_s=0)
        time.sleep(3)
        assert writer.poll() is None, writer.stdout.read()  # still waiting for the lock
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    killed_at = time.time()

    output = writer.communicate(timeout=60)[0]

    assert writer.returncode == 0, output
    assert times(output)["acquired"] >= killed_at
    assert lock_holders(team_database) == []
    rerun = invoke("materialize", "--select", "examples")
    assert rerun.exit_code == 0, rerun.output + rerun.stderr
    assert "Freed run" in rerun.stdout


def test_two_writers_on_two_machines_hold_the_lake_one_after_the_other(team_database, tmp_path):
    first = start_writer(tmp_path / "machine-a", hold_s=2)
    time.sleep(0.5)
    second = start_writer(tmp_path / "machine-b", hold_s=0.5)

    a, b = (times(w.communicate(timeout=60)[0]) for w in (first, second))

    assert first.returncode == 0 and second.returncode == 0
    assert a["acquired"] < a["released"] <= b["acquired"]


def test_without_the_team_setting_two_machines_would_write_at_once(tmp_path, monkeypatch):
    """The contrast: on laptops, each machine's file lock binds only its own home."""
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    first = start_writer(tmp_path / "machine-a", hold_s=2)
    time.sleep(0.5)
    second = start_writer(tmp_path / "machine-b", hold_s=0.5)

    a, b = (times(w.communicate(timeout=60)[0]) for w in (first, second))

    assert b["acquired"] < a["released"]


@pytest.mark.skipif(postgres_missing() is not None, reason=str(postgres_missing()))
def test_team_up_and_down_are_idempotent_and_keep_postgresql_on_loopback(monkeypatch):
    scratch = traversable_tmp_dir("bayesline-team-")
    home = scratch / "home"
    monkeypatch.setenv("BAYESLINE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    cluster = TeamCluster(home)
    try:
        up = invoke("team", "up")
        again = invoke("team", "up")
        state = cluster_state(cluster)
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        status = invoke("team", "status")
        yaml = (home / "dagster" / "dagster.yaml").read_text()
        passfile_mode = stat.S_IMODE(cluster.passfile.stat().st_mode)
        password = cluster.passfile.read_text().strip().rsplit(":", 1)[1]
        down = invoke("team", "down")
        down_again = invoke("team", "down")
        stopped = cluster_state(cluster)
        runs_while_down = invoke("runs")
    finally:
        dropped = invoke("team", "down", "--drop")
        laptop_yaml = (home / "dagster" / "dagster.yaml").read_text()
        shutil.rmtree(scratch, ignore_errors=True)

    assert up.exit_code == 0 and again.exit_code == 0, up.output + up.stderr
    assert "Created PostgreSQL" in up.stdout and "Created" not in again.stdout
    assert "already runs" in again.stdout
    assert state.running and f"127.0.0.1:{state.port}" in listening
    assert f":{state.port} " not in listening.replace(f"127.0.0.1:{state.port} ", "")
    assert passfile_mode == 0o600
    assert password not in up.stdout + again.stdout + status.stdout + yaml
    assert "Team: Dagster keeps its runs in PostgreSQL" in status.stdout
    assert f"port: {state.port}" in yaml and "postgresql+psycopg2" in yaml
    assert down.exit_code == 0 and "Stopped" in down.stdout
    assert down_again.exit_code == 0 and "already stopped" in down_again.stdout
    assert not stopped.running
    assert runs_while_down.exit_code == 1 and "`bayesline team up`" in runs_while_down.stderr
    assert dropped.exit_code == 0 and cluster_state(cluster) is None
    assert not cluster.passfile.exists() and not cluster.settings_path.exists()
    assert laptop_yaml == (REPO_ROOT / "dagster.yaml").read_text()


@pytest.mark.skipif(postgres_missing() is not None, reason=str(postgres_missing()))
def test_team_up_where_the_postgres_user_cannot_reach_says_which_folder(layout):
    blocked = next(p for p in layout.home.parents if p.stat().st_mode & 0o001 == 0)

    done = invoke("team", "up")

    assert done.exit_code == 1
    assert f"cannot enter {blocked}" in done.stderr and "set BAYESLINE_HOME" in done.stderr
    assert cluster_state(TeamCluster(layout.home)) is None


def test_a_writer_that_waits_past_its_timeout_says_who_holds_the_lake(team_database, layout):
    with (
        advisory_lock(team_database, WRITER_LOCK_NAME, timeout_s=5),
        pytest.raises(WriterBusyError) as busy,
        writer_lock(layout, timeout_s=1),
    ):
        pytest.fail("the lake was written while another session held its lock")

    assert f"It holds the lock in {team_database.describe()}" in str(busy.value)
    with writer_lock(layout, timeout_s=1):  # released with its session
        assert lock_holders(team_database) == [(WRITER_LOCK_NAME, True)]
