"""A real process holding a STARTED run of the pipeline and the writer pool's slot, as a run
worker blocked in a step would; the run tests kill it, or leave it alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import dagster as dg

from assets.ingest import WAREHOUSE_POOL
from tests.conftest import REPO_ROOT

HOLDER = """
import sys, time
import dagster as dg
from assets.definitions import defs
from assets.runs import RUN_PROCESS_STARTED_TAG, RUN_HOST_TAG, process_tags
tags = process_tags()
if sys.argv[1] != "-":
    tags[RUN_HOST_TAG] = sys.argv[1]
if sys.argv[2] != "-":
    tags[RUN_PROCESS_STARTED_TAG] = sys.argv[2]
with dg.DagsterInstance.get() as instance:
    run = instance.create_run_for_job(
        defs.resolve_job_def("bayesline_pipeline"), tags=tags, status=dg.DagsterRunStatus.STARTED
    )
    storage = instance.event_log_storage
    storage.set_concurrency_slots("bayesline_warehouse_writer", 1)
    assert storage.claim_concurrency_slot(
        "bayesline_warehouse_writer", run.run_id, "warehouse_examples"
    ).is_claimed
    print(run.run_id, flush=True)
    time.sleep(600)
"""


class Holder:
    """A real process holding a STARTED run and the writer pool's slot."""

    def __init__(self, host: str = "-", process_started: str = "-") -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, host, process_started],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None  # stdout=PIPE
        self.output = self.process.stdout
        self.run_id = self.output.readline().strip()
        assert self.run_id, "the holder process did not start its run"

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self.output.close()


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None, f"no run {run_id}"
    return run.status


def slot_holders(instance: dg.DagsterInstance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    return {slot.run_id for slot in info.claimed_slots}


def run_log(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(entry.message for entry in instance.all_logs(run_id))
