"""Measure Bayesline's ingest, quality gate and publish against bare DuckDB on synthetic data.

Each stage runs in its own process so its peak RSS is its own. Results are written as JSON under
benchmarks/results/ (never asserted anywhere). Usage:

    python -m benchmarks.bench_pipeline --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.config import parse_config
from warehouse.hashing import split_bucket_sql
from warehouse.layout import WarehouseLayout

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SLICES = [f"slice_{i}" for i in range(1, 6)]
BENCH_CONFIG = {
    "dataset": {
        "name": "bench",
        "id_column": "id",
        "label_column": "label",
        "labels": ["neg", "pos"],
        "text_columns": ["text"],
        "group_column": "user_id",
        "slice_columns": SLICES,
    },
    "sources": {"target": ["app"]},
    "splits": {
        "salt": "bench",
        "target": {"train": 0.4, "dev": 0.3, "test": 0.3},
        "training": {"train": 0.9, "train_dev": 0.1},
    },
}


def write_synthetic_landing(landing: Path, rows: int) -> None:
    """Training rows as CSV under landing/web, target rows (a third) under landing/app."""
    slices = ", ".join(f"'v' || (i * {k + 3} % {k + 4}) AS {name}" for k, name in enumerate(SLICES))
    for source, start, stop in (("web", 0, rows - rows // 3), ("app", rows - rows // 3, rows)):
        (landing / source).mkdir(parents=True, exist_ok=True)
        duckdb.execute(
            f"""COPY (SELECT 'id' || i AS id, 'u' || (i // 4) AS user_id,
                       CASE WHEN i % 3 = 0 THEN 'neg' ELSE 'pos' END AS label,
                       'review number ' || i || ' says ' || (i % 97) AS text, {slices},
                       i % 1000 AS f1, (i * 7) % 113 AS f2, i / 3.0 AS f3
                FROM range({start}, {stop}) AS t(i))
                TO '{landing / source / "part.csv"}' (HEADER)"""
        )


def _stage(name: str, work_dir: str, queue) -> None:
    layout = WarehouseLayout(Path(work_dir) / "warehouse")
    config = parse_config(BENCH_CONFIG)
    started = time.perf_counter()
    if name == "ingest":
        from warehouse.ingest import ingest_landing_files

        ingest_landing_files(layout, config)
    elif name == "ingest_reference":
        out = Path(work_dir) / "reference"
        out.mkdir(exist_ok=True)
        for source in ("web", "app"):
            duckdb.execute(
                f"COPY (SELECT * FROM read_csv('{layout.landing / source / '*.csv'}')) "
                f"TO '{out / source}.parquet'"
            )
    elif name == "quality_gate":
        from quality.gate import run_quality_checks
        from warehouse.catalog import open_reader

        with open_reader(layout, config) as con:
            run_quality_checks(con, config)
    elif name == "publish":
        from warehouse.splits import publish_split_version

        publish_split_version(layout, config)
    elif name == "publish_reference":
        bucket = split_bucket_sql("'bench'", "group_key")
        duckdb.execute(
            f"COPY (SELECT *, CASE WHEN {bucket} < 3000 THEN 'dev' WHEN {bucket} < 6000 "
            f"THEN 'test' ELSE 'train' END AS split FROM read_parquet("
            f"'{layout.examples_dir / '*.parquet'}')) TO '{Path(work_dir) / 'ref_splits'}' "
            "(FORMAT parquet, PARTITION_BY (split), OVERWRITE)"
        )
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({"stage": name, "seconds": round(seconds, 3), "peak_rss_mib": round(peak_kib / 1024)})


def run_stage(name: str, work_dir: Path) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_stage, args=(name, str(work_dir), queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def run_benchmark(rows: int, work_dir: Path, results_dir: Path = RESULTS_DIR) -> Path:
    """Run every stage next to its reference and write the results file; return its path."""
    write_synthetic_landing(WarehouseLayout(work_dir / "warehouse").ensure().landing, rows)
    stages = ["ingest_reference", "ingest", "quality_gate", "publish_reference", "publish"]
    results = {name: run_stage(name, work_dir) for name in stages}
    for name, result in results.items():
        result["rows_per_s"] = round(rows / result["seconds"]) if result["seconds"] else None
        reference = results.get(f"{name}_reference")
        if reference:
            result["ratio_to_reference"] = round(result["seconds"] / reference["seconds"], 2)
    report = {
        "rows": rows,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
        },
        "stages": list(results.values()),
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"pipeline-{rows}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return out


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bayesline-bench-") as tmp:
        out = run_benchmark(args.rows, Path(tmp))
    from benchmarks.markdown import write_benchmarks_md

    for stage in json.loads(out.read_text())["stages"]:
        print(stage)
    print(f"results: {out}; table: {write_benchmarks_md()}")


if __name__ == "__main__":
    main()
