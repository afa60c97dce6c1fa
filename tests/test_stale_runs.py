"""Runs whose process is gone are freed; live ones, here or elsewhere, never are.

Each holder is a real process that opens the real Dagster instance, starts a run of the
pipeline job with its own process tags, claims the writer pool's slot and then sleeps, as a
run worker blocked in a step would. The tests kill it (or not) and look from the user's side:
`bayesline runs`, `bayesline runs clean` and `bayesline materialize`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from assets.ingest import WAREHOUSE_POOL
from assets.processes import process_start_time, process_state, this_host
from bayesline.cli import app
from bayesline.runner import ensure_dagster_home
from tests.conftest import REPO_ROOT
from tests.review_files import write_reviews
from tests.run_holders import Holder, run_log, slot_holders, status
from warehouse.layout import WarehouseLayout

runner = CliRunner()


def bayesline(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def instance(layout: WarehouseLayout):
    ensure_dagster_home(layout)
    with dg.DagsterInstance.get() as instance:
        yield instance


@pytest.fixture
def holders() -> Iterator[Callable[..., Holder]]:
    started: list[Holder] = []

    def start(**kwargs) -> Holder:
        started.append(Holder(**kwargs))
        return started[-1]

    yield start
    for holder in started:
        holder.stop()


def test_a_killed_runs_slot_is_freed_and_the_reason_logged(instance, holders):
    holder = holders()
    assert bayesline("runs", "clean").stdout.startswith("Nothing to clean")
    assert slot_holders(instance) == {holder.run_id}
    holder.kill()
    listed = bayesline("runs")
    assert holder.run_id[:8] in listed.stdout and "stale" in listed.stdout

    cleaned = bayesline("runs", "clean")

    assert f"Freed run {holder.run_id}" in cleaned.stdout
    assert status(instance, holder.run_id) == dg.DagsterRunStatus.FAILURE
    assert slot_holders(instance) == set()
    assert f"pid {holder.process.pid}" in run_log(instance, holder.run_id)
    assert "is gone: killed or crashed" in run_log(instance, holder.run_id)


def test_a_live_run_on_this_machine_is_never_freed_even_with_yes(instance, holders):
    holder = holders()
    cleaned = bayesline("runs", "clean", "--yes")
    assert "Nothing to clean" in cleaned.stdout
    assert status(instance, holder.run_id) == dg.DagsterRunStatus.STARTED
    assert slot_holders(instance) == {holder.run_id}


def test_a_run_on_another_machine_is_freed_only_when_a_person_says_so(instance, holders):
    holder = holders(host="build-server-7")
    declined = bayesline("runs", "clean", input="n\n")
    assert "might still be running" in declined.stdout
    assert status(instance, holder.run_id) == dg.DagsterRunStatus.STARTED
    assert slot_holders(instance) == {holder.run_id}

    accepted = bayesline("runs", "clean", "--yes")

    assert f"Freed run {holder.run_id}" in accepted.stdout
    assert status(instance, holder.run_id) == dg.DagsterRunStatus.FAILURE
    assert slot_holders(instance) == set()


def test_a_pid_reused_by_a_newer_process_counts_as_gone(instance, holders):
    # The run recorded a process that started an hour before the live process with its pid.
    holder = holders(process_started=f"{time.time() - 3600:.2f}")
    cleaned = bayesline("runs", "clean")
    assert f"Freed run {holder.run_id}" in cleaned.stdout
    assert slot_holders(instance) == set()


def test_process_state_tells_alive_gone_and_unknown_apart(tmp_path: Path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_start_time(child.pid)
        assert started is not None
        assert process_state(this_host(), child.pid, started, started_before=None) == "alive"
        assert process_state("elsewhere-host", child.pid, started, started_before=None) == (
            "elsewhere"
        )
        assert process_state(None, child.pid, started, started_before=None) == "unknown"
    finally:
        child.kill()
        child.wait()
    assert process_state(this_host(), child.pid, started, started_before=None) == "gone"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_materialize_waits_for_a_live_holder_says_why_and_runs_once_it_is_gone(
    instance, holders, layout
):
    write_reviews(layout.landing / "app_reviews" / "hand-written.csv", "h", 240)
    holder = holders()
    env = {**os.environ, "COLUMNS": "1000"}
    waiting = subprocess.Popen(
        [str(Path(sys.executable).with_name("bayesline")), "materialize", "--select", "examples"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        first = waiting.stdout.readline()
        assert first.startswith(f"Waiting for the {WAREHOUSE_POOL} pool: run {holder.run_id}")
        assert f"pid {holder.process.pid}" in first and "terminate it in the Dagster UI" in first
        cpu_before = _cpu_seconds(waiting.pid)
        time.sleep(3)
        # Sleeping between polls, the waiter uses a small part of a core (a busy loop, all of it).
        assert _cpu_seconds(waiting.pid) - cpu_before < 1.5
        holder.kill()
        output = first + waiting.communicate(timeout=300)[0]
    finally:
        if waiting.poll() is None:
            os.killpg(waiting.pid, signal.SIGKILL)
    assert waiting.returncode == 0, output
    assert f"Freed run {holder.run_id}" in output
    assert "materialised examples" in output
    assert bayesline("sql", "SELECT count(*) AS n FROM examples", "-f", "csv").stdout == "n\n240\n"
    assert status(instance, holder.run_id) == dg.DagsterRunStatus.FAILURE
