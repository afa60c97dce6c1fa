"""Waiting for the pipeline's turn: one `bayesline materialize` at a time, and none while
another run (from the UI, the sensor or a killed process) holds the warehouse writer pool.

Two waits, both sleeping between polls. First a file lock that only `bayesline materialize`
takes: the kernel drops it when its holder dies, even by `kill -9`, so it never needs
clearing. Then the Dagster instance: runs whose process is gone are freed on the spot, and
live ones are waited for, with a line saying which run, since when, and how to clear it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from warehouse.layout import WarehouseLayout

PIPELINE_LOCK_NAME = ".pipeline.lock"
#: Seconds between two looks at the lock and the instance: a waiting run sleeps, it never spins.
POLL_INTERVAL_S = 1.0


@dataclass
class Turn:
    """What the run waited for before its turn came."""

    waited_s: float = 0.0
    waited_for: list[str] = field(default_factory=list)
    freed: list[str] = field(default_factory=list)
    #: When no other run was in progress: a staging file older than this has no writer left.
    clear_at: float = 0.0

    def summary(self) -> str:
        return f"waited {self.waited_s:.0f} s for " + "; then ".join(self.waited_for)


@contextmanager
def pipeline_turn(
    layout: WarehouseLayout, run_id: str, say: Callable[[str], None]
) -> Iterator[Turn]:
    """Hold the pipeline's turn for run `run_id`; `say` hears every wait and every freed run."""
    from assets.runs import open_instance

    layout.home.mkdir(parents=True, exist_ok=True)
    lock_path = layout.home / PIPELINE_LOCK_NAME
    turn, started = Turn(), time.monotonic()
    with open(lock_path, "a+") as handle:
        _take_lock(handle, lock_path, turn, say)
        try:
            _record_holder(handle, run_id)
            with open_instance() as instance:
                _wait_for_other_runs(instance, run_id, turn, say)
            turn.waited_s = time.monotonic() - started
            yield turn
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _take_lock(handle: IO[str], lock_path: Path, turn: Turn, say: Callable[[str], None]) -> None:
    said = None
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _describe_holder(lock_path)
            if holder != said:
                say(
                    f"Waiting: {holder} holds the warehouse writer. This run starts when it "
                    "ends; to run now, stop that one (Ctrl-C in its terminal, or kill its pid)."
                )
                turn.waited_for.append(holder)
                said = holder
            time.sleep(POLL_INTERVAL_S)


def _record_holder(handle: IO[str], run_id: str) -> None:
    from assets.processes import this_host

    handle.seek(0)
    handle.truncate(0)
    holder = {
        "run_id": run_id,
        "pid": os.getpid(),
        "host": this_host(),
        "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    handle.write(json.dumps(holder))
    handle.flush()


def _describe_holder(lock_path: Path) -> str:
    try:
        holder = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "another `bayesline materialize` (starting up)"
    return (
        f"run {holder['run_id']} of `bayesline materialize` (pid {holder['pid']} on "
        f"{holder['host']}, since {holder['since']})"
    )


def _wait_for_other_runs(instance, run_id: str, turn: Turn, say: Callable[[str], None]) -> None:
    from assets.runs import WAREHOUSE_POOL, free_stale_runs, running_runs, stale_reason

    freed_by = f"`bayesline materialize` (pid {os.getpid()})"
    said = None
    while True:
        for run in free_stale_runs(instance, freed_by=freed_by):
            line = f"Freed {run.describe()}: {stale_reason(run, freed_by)}"
            say(line)
            turn.freed.append(line)
        turn.clear_at = time.time()
        busy = running_runs(instance, exclude_run_id=run_id)
        if not busy:
            return
        text = "; ".join(run.describe() for run in busy)
        if text != said:
            say(f"Waiting for the {WAREHOUSE_POOL} pool: {text}. {_how_to_clear(busy)}")
            turn.waited_for.append(text)
            said = text
        time.sleep(POLL_INTERVAL_S)


def _how_to_clear(busy) -> str:
    if any(run.might_be_alive for run in busy):
        return (
            "Its process may be alive elsewhere; if it is gone, `bayesline runs clean` "
            "frees it (it asks first)."
        )
    return "It is running: wait, or terminate it in the Dagster UI (`make ui`)."
