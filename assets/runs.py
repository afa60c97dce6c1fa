"""Runs on the project's Dagster instance: which are in progress, which hold the writer pool,
and freeing the ones whose process is gone.

Dagster's run monitoring cannot tell that a run worker died with the default run launcher, and
`bayesline materialize` runs have no launcher at all: a killed run would stay STARTED and keep
its `bayesline_warehouse_writer` slot for good. Each run therefore carries tags naming its
process (host, pid, start time); a run whose process is gone is marked failed and its slots
and pending steps are freed. A run whose process is alive, on another machine, or unknown is
never freed here without a person saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from assets.ingest import WAREHOUSE_POOL
from assets.processes import (
    ProcessIdentity,
    ProcessState,
    current_process,
    process_state,
    this_host,
)

RUN_HOST_TAG = "bayesline/host"
RUN_PID_TAG = "bayesline/pid"
RUN_PROCESS_STARTED_TAG = "bayesline/process_started"

#: Statuses in which a run has a live process (or had one, if it was killed).
RUNNING_STATUSES = (
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
FINISHED_STATUSES = (
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
)
CLEAR_BY_HAND = "`bayesline runs` shows it; `bayesline runs clean` frees it if its process is gone"


@contextmanager
def open_instance() -> Iterator[dg.DagsterInstance]:
    """The instance in DAGSTER_HOME (`bayesline` points it at the data directory)."""
    with dg.DagsterInstance.get() as instance:
        yield instance


def record_wait(run_id: str, message: str) -> None:
    """Put what a CLI run waited for into its Dagster log: the run is recorded only once it
    starts, so the wait is told in the terminal while it lasts and kept here afterwards."""
    with open_instance() as instance:
        run = instance.get_run_by_id(run_id)
        if run is not None:
            instance.report_engine_event(message, run)


def launch_host_tags() -> dict[str, str]:
    """Job tags naming this host: where the default run launcher starts the job's run workers
    (the machine that loads the code location), so a launched run's process can be checked."""
    return {RUN_HOST_TAG: this_host()}


def process_tags(identity: ProcessIdentity | None = None) -> dict[str, str]:
    """Run tags naming the process that executes the run (this one by default)."""
    identity = identity or current_process()
    tags = {RUN_HOST_TAG: identity.host, RUN_PID_TAG: str(identity.pid)}
    if identity.started_at is not None:
        tags[RUN_PROCESS_STARTED_TAG] = f"{identity.started_at:.2f}"
    return tags


@dataclass(frozen=True)
class RunState:
    """One run as `bayesline runs` shows it."""

    run_id: str
    job: str
    status: str
    started_at: datetime | None
    host: str | None
    pid: int | None
    process: ProcessState | None  # None once the run has finished
    holds_pool: bool  # a slot of the writer pool is claimed by one of its steps
    waits_for_pool: bool  # one of its steps is queued for a slot

    @property
    def running(self) -> bool:
        return self.status in {s.value for s in RUNNING_STATUSES}

    @property
    def stale(self) -> bool:
        """Its process is gone, or it finished, yet it still holds or waits for the pool."""
        if self.running:
            return self.process == "gone"
        return self.holds_pool or self.waits_for_pool

    @property
    def might_be_alive(self) -> bool:
        return self.running and self.process in ("elsewhere", "unknown")

    def describe(self) -> str:
        where = f"pid {self.pid} on {self.host}" if self.pid and self.host else "process unknown"
        since = f", started {self.started_at:%Y-%m-%d %H:%M:%S} UTC" if self.started_at else ""
        return f"run {self.run_id} ({self.job}, {self.status}, {where}{since})"


def list_runs(instance: dg.DagsterInstance, limit: int = 20) -> list[RunState]:
    """Every run in progress or touching the writer pool, then the newest others, newest first."""
    pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    holding = {slot.run_id for slot in pool.claimed_slots}
    waiting = {step.run_id for step in pool.pending_steps if step.assigned_timestamp is None}
    wanted = dg.RunsFilter(statuses=list(RUNNING_STATUSES))
    newest = instance.get_run_records(limit=limit) if limit else []
    records = {r.dagster_run.run_id: r for r in newest}
    records.update({r.dagster_run.run_id: r for r in instance.get_run_records(filters=wanted)})
    if holding | waiting:
        pool_runs = dg.RunsFilter(run_ids=sorted(holding | waiting))
        records.update({r.dagster_run.run_id: r for r in instance.get_run_records(pool_runs)})
    ordered = sorted(records.values(), key=lambda r: r.create_timestamp, reverse=True)
    return [_run_state(instance, r, holding, waiting) for r in ordered]


def _run_state(instance, record: dg.RunRecord, holding: set[str], waiting: set[str]) -> RunState:
    run = record.dagster_run
    running = run.status in RUNNING_STATUSES
    host, pid, process_started = _recorded_process(instance, run, look_in_log=running)
    started = record.start_time or record.create_timestamp.timestamp()
    return RunState(
        run_id=run.run_id,
        job=run.job_name,
        status=run.status.value,
        started_at=datetime.fromtimestamp(started, UTC) if started else None,
        host=host,
        pid=pid,
        process=process_state(host, pid, process_started, started_before=started)
        if running
        else None,
        holds_pool=run.run_id in holding,
        waits_for_pool=run.run_id in waiting,
    )


def _recorded_process(
    instance, run: dg.DagsterRun, look_in_log: bool
) -> tuple[str | None, int | None, float | None]:
    """Host, pid and start time from the run's tags; a launched run's pid from its log."""
    tags = run.tags
    pid = int(tags[RUN_PID_TAG]) if RUN_PID_TAG in tags else None
    if pid is None and look_in_log:
        pid = _logged_pid(instance, run.run_id)
    started = tags.get(RUN_PROCESS_STARTED_TAG)
    return tags.get(RUN_HOST_TAG), pid, float(started) if started else None


def _logged_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid, from the first engine event that names one ("Started process
    for run (pid: N)" when the daemon or UI launched it)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=20
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None:  # a plain log message, not an engine event
            continue
        metadata = event.engine_event_data.metadata
        if "pid" in metadata:
            return int(str(metadata["pid"].value))  # Dagster records the pid as text
    return None


def running_runs(instance: dg.DagsterInstance, exclude_run_id: str | None = None) -> list[RunState]:
    """Runs that are in progress or hold the writer pool, other than `exclude_run_id`."""
    return [
        run
        for run in list_runs(instance, limit=0)
        if run.run_id != exclude_run_id and (run.running or run.holds_pool)
    ]


def free_run(
    instance: dg.DagsterInstance,
    run_id: str,
    reason: str,
    *,
    canceled: bool = False,
    even_if_finished: bool = False,
) -> None:
    """Mark the run failed (or canceled) if it has not finished, and free its pool slots and
    pending steps; the reason goes into the run's log.

    `even_if_finished` re-marks a finished run: Dagster records a run stopped by Ctrl-C as
    failed ("interrupted unexpectedly"), and the person who pressed it canceled it.
    """
    run = instance.get_run_by_id(run_id)
    if run is None:
        return
    if even_if_finished or run.status not in FINISHED_STATUSES:
        if canceled:
            instance.report_run_canceled(run, reason)
        else:
            instance.report_run_failed(run, reason)
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def stale_reason(run: RunState, freed_by: str) -> str:
    if run.running:
        return (
            f"its process (pid {run.pid} on {run.host}) is gone: killed or crashed. "
            f"Marked failed and its {WAREHOUSE_POOL} slots freed by {freed_by}."
        )
    return f"it had {run.status.lower()} but still held {WAREHOUSE_POOL}; freed by {freed_by}"


def free_stale_runs(instance: dg.DagsterInstance, freed_by: str) -> list[RunState]:
    """Free every run whose process is gone (or that finished holding the pool); returns them."""
    stale = [run for run in list_runs(instance, limit=0) if run.stale]
    for run in stale:
        free_run(instance, run.run_id, stale_reason(run, freed_by))
    return stale
