"""The benchmark suite's one entry point: every stage next to its reference, in one run.

Groups run in order on one shared work directory (the evaluation group reads the splits the
pipeline group published). Results go to benchmarks/results/bench-<rows>.json and BENCHMARKS.md
is regenerated from every results file. Usage:

    python -m benchmarks.suite --rows 1000000 [--only pipeline,evaluation]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.measure import quiet_duckdb, run_stage, with_ratios
from deployment.settings import MEMORY_LIMIT_ENV
from warehouse.storage import DEFAULT_MEMORY_LIMIT

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Benchmark modules, each with `prepare(work_dir, rows)` and `SPECS`, in the order they run.
GROUPS = {
    "pipeline": "benchmarks.bench_pipeline",
    "read_paths": "benchmarks.bench_read_paths",
    "single_file": "benchmarks.bench_single_file",
    "cumulative": "benchmarks.bench_cumulative",
    "evaluation": "benchmarks.bench_evaluation",
    "spark": "benchmarks.bench_spark",
    "learning_curves": "benchmarks.bench_learning_curves",
    "distribution_shift": "benchmarks.bench_distribution_shift",
    "labeling": "benchmarks.bench_labeling",
    "handoff": "benchmarks.bench_handoff",
    "dagster": "benchmarks.bench_dagster",
}


def run_suite(
    rows: int,
    work_dir: Path,
    results_dir: Path = RESULTS_DIR,
    groups: list[str] | None = None,
    progress=print,
) -> Path:
    """Run the chosen groups (all by default) and write the results file; return its path."""
    quiet_duckdb()
    stages: list[dict[str, Any]] = []
    for group in groups or list(GROUPS):
        module = importlib.import_module(GROUPS[group])
        progress(f"{group}: preparing {rows:,} rows")
        module.prepare(work_dir, rows)
        measured = []
        for spec in module.SPECS:
            progress(f"{group}: {spec.name}")
            measured.append({"group": group, **run_stage(spec, work_dir, rows)})
        with_ratios(measured, module.SPECS, rows)
        stages += measured
    machine_facts = machine()
    # How busy the machine was: a run that shared it says so next to its numbers.
    machine_facts["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    machine_facts["duckdb_memory_limit"] = os.environ.get(
        MEMORY_LIMIT_ENV, f"{DEFAULT_MEMORY_LIMIT} (default)"
    )
    report = {"rows": rows, "date": _now(), "machine": machine_facts, "stages": stages}
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"bench-{rows}.json"
    merged = _kept_from_earlier_runs(out, stages) + stages
    report["stages"] = sorted(merged, key=lambda stage: list(GROUPS).index(stage["group"]))
    out.write_text(json.dumps(report, indent=2) + "\n")
    return out


def _kept_from_earlier_runs(out: Path, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run of some groups (`--only`, `make bench-quick`) replaces only those groups' rows."""
    if not out.exists():
        return []
    rerun = {stage["group"] for stage in stages}
    earlier = json.loads(out.read_text())["stages"]
    return [stage for stage in earlier if stage.get("group") not in rerun]


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", help=f"comma-separated groups out of {', '.join(GROUPS)}")
    parser.add_argument("--work-dir", type=Path, help="where the data goes (default: a temp dir)")
    args = parser.parse_args()
    groups = args.only.split(",") if args.only else None
    unknown = set(groups or []) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {', '.join(sorted(unknown))}; known: {', '.join(GROUPS)}")
    with tempfile.TemporaryDirectory(prefix="bayesline-bench-", dir=args.work_dir) as tmp:
        out = run_suite(args.rows, Path(tmp), groups=groups)
    from benchmarks.markdown import write_benchmarks_md

    for stage in json.loads(out.read_text())["stages"]:
        print(stage)
    print(f"results: {out}; table: {write_benchmarks_md()}")
    from benchmarks.read_paths_chart import write_read_paths_chart

    if chart := write_read_paths_chart():
        print(f"read paths chart: {chart}")
    from benchmarks.handoff_chart import write_handoff_chart

    if chart := write_handoff_chart():
        print(f"handoff memory chart: {chart}")
    from benchmarks.spark_chart import write_spark_chart

    if chart := write_spark_chart():
        print(f"spark chart: {chart}")


if __name__ == "__main__":
    main()
