"""Run one benchmark stage in a fresh process and measure its wall time and peak memory.

A stage is a plain function `stage(work_dir: Path, rows: int) -> dict | None`, named by its import
path ("benchmarks.bench_pipeline:ingest"). It runs in a spawned process so that its peak RSS is
its own and nothing cached by an earlier stage helps it. It may return extra facts for the
results file; a returned "seconds" replaces the wall time of the call (for a stage whose untimed
set-up, such as starting a server, must stay out of the figure).
"""

from __future__ import annotations

import importlib
import multiprocessing
import queue as queue_module
import resource
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLL_SECONDS = 1.0


@dataclass(frozen=True)
class StageSpec:
    name: str
    target: str  # "package.module:function"
    reference: str | None = None  # the stage this one is compared with
    #: An address-space cap, so that a runaway stage fails instead of swapping.
    memory_limit_gib: float | None = None


def run_stage(spec: StageSpec, work_dir: Path, rows: int) -> dict[str, Any]:
    """Run the stage in its own process; a crash or kill is reported, never raised."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    args = (spec.target, str(work_dir), rows, spec.memory_limit_gib, results)
    process = context.Process(target=_run_in_child, args=args)
    process.start()
    outcome = _wait_for_outcome(process, results)
    process.join()
    return {"stage": spec.name, **outcome}


def _wait_for_outcome(process, results) -> dict[str, Any]:
    while True:
        try:
            return results.get(timeout=POLL_SECONDS)
        except queue_module.Empty:
            if not process.is_alive():
                return {"failed": f"the process died (exit code {process.exitcode})"}


def _run_in_child(
    target: str, work_dir: str, rows: int, memory_limit_gib: float | None, results
) -> None:
    quiet_duckdb()
    module_name, function_name = target.split(":")
    stage = getattr(importlib.import_module(module_name), function_name)
    if memory_limit_gib:  # after DuckDB has started its threads; lifted again to report
        limit = int(memory_limit_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    started = time.perf_counter()
    try:
        extra = stage(Path(work_dir), rows) or {}
    except BaseException as exc:  # a stage that runs out of memory is a result, not a crash
        extra = {"failed": f"{type(exc).__name__}: {exc}"[:300], "traceback": _last_frames()}
    seconds = time.perf_counter() - started
    extra.setdefault("seconds", seconds)
    extra["seconds"] = round(extra["seconds"], 3)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    extra["peak_rss_mib"] = round(_peak_rss_kib(usage) / 1024)
    # CPU time (all threads) of the whole process, imports included: steadier than wall time
    # on a shared machine, and it shows how well a stage uses the cores.
    extra["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 3)
    if memory_limit_gib:  # sending the result starts a thread, which needs address space
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    results.put(extra)


def _peak_rss_kib(usage: resource.struct_rusage) -> int:
    """This process's own peak RSS. Linux carries ru_maxrss across exec, so a spawned child
    would report its parent's peak if that was higher; VmHWM belongs to this image alone."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return usage.ru_maxrss
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return usage.ru_maxrss


def quiet_duckdb() -> None:
    """No progress bars from the module-level DuckDB connection: they would flood the log."""
    import duckdb

    duckdb.execute("SET enable_progress_bar = false")


def _last_frames() -> str:
    return "".join(traceback.format_exc().splitlines(keepends=True)[-6:])


def with_ratios(stages: list[dict[str, Any]], specs: list[StageSpec], rows: int) -> None:
    """Add rows/s and the ratio to each stage's reference, both measured in the same run."""
    by_name = {stage["stage"]: stage for stage in stages}
    for spec in specs:
        stage = by_name.get(spec.name)
        if stage is None or "failed" in stage or "skipped" in stage:
            continue
        stage.setdefault("rows", rows)
        stage["rows_per_s"] = round(stage["rows"] / stage["seconds"]) if stage["seconds"] else None
        reference = by_name.get(spec.reference or "")
        if reference is None or "failed" in reference or "skipped" in reference:
            continue
        if reference["seconds"]:
            stage["reference"] = spec.reference
            stage["ratio_to_reference"] = round(stage["seconds"] / reference["seconds"], 2)
