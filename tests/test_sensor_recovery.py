"""The sensor path with the real Dagster daemon: a killed run holding the writer pool is freed,
and the landing sensor's next request runs to the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from bayesline.runner import ensure_dagster_home
from tests.conftest import REPO_ROOT
from tests.review_files import write_reviews
from tests.run_holders import Holder, run_log, slot_holders
from warehouse.layout import WarehouseLayout

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 420


@pytest.fixture
def instance(layout: WarehouseLayout):
    ensure_dagster_home(layout)
    with dg.DagsterInstance.get() as instance:
        yield instance


def wait_for_sensor_run(instance: dg.DagsterInstance, daemon: subprocess.Popen) -> dg.DagsterRun:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        assert daemon.poll() is None, "the Dagster daemon exited"
        runs = instance.get_runs(
            dg.RunsFilter(tags={"dagster/sensor_name": "landing_files_sensor"})
        )
        done = [run for run in runs if run.is_finished]
        if done:
            return done[0]
        time.sleep(1)
    pytest.fail(f"no sensor run finished within {RUN_TIMEOUT_S} s")


def test_the_daemon_frees_a_killed_run_and_runs_the_sensors_next_request(
    instance,
    layout,
    tmp_path: Path,
):
    write_reviews(layout.landing / "app_reviews" / "daemon.csv", "d", 240)
    holder = Holder()
    holder.stop()  # kill -9, as the OOM killer would
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-m", "assets.definitions"],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        run = wait_for_sensor_run(instance, daemon)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()
    assert run.status == dg.DagsterRunStatus.SUCCESS, (tmp_path / "daemon.log").read_text()[-3000:]
    assert instance.get_run_by_id(holder.run_id).status == dg.DagsterRunStatus.FAILURE
    assert "freed by landing_files_sensor" in run_log(instance, holder.run_id)
    assert slot_holders(instance) == set()
