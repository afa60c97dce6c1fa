"""Split assignment and slice metrics on Spark (local[2]) next to the same work on DuckDB.

Each assignment stage publishes the first version of a fresh warehouse whose lake links to the
examples the pipeline group ingested, so both engines start from the same state; the slice
stages count the evaluation group's model on the newest version. On one machine DuckDB wins:
these numbers say what the Spark path costs where it is not needed, and that it runs at all at
this size. The Spark stages include starting the JVM (`spark_start_seconds` says how much).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.bench_evaluation import MODEL_VERSION, newest_version
from benchmarks.bench_evaluation import prepare as prepare_predictions
from benchmarks.bench_pipeline import bench_config, bench_layout
from benchmarks.measure import StageSpec
from deployment.settings import ENGINE_ENV
from warehouse.layout import WarehouseLayout

SPECS = [
    StageSpec("split_assignment_duckdb", "benchmarks.bench_spark:split_assignment_duckdb"),
    StageSpec(
        "split_assignment_spark",
        "benchmarks.bench_spark:split_assignment_spark",
        reference="split_assignment_duckdb",
    ),
    StageSpec("slice_metrics_duckdb", "benchmarks.bench_spark:slice_metrics_duckdb"),
    StageSpec(
        "slice_metrics_spark",
        "benchmarks.bench_spark:slice_metrics_spark",
        reference="slice_metrics_duckdb",
    ),
]


def prepare(work_dir: Path, rows: int) -> None:
    """The pipeline group's examples and the evaluation group's predictions (made if absent)."""
    prepare_predictions(work_dir, rows)


def split_assignment_duckdb(work_dir: Path, rows: int) -> dict:
    return _publish_fresh(work_dir, "duckdb")


def split_assignment_spark(work_dir: Path, rows: int) -> dict:
    return _publish_fresh(work_dir, "spark")


def slice_metrics_duckdb(work_dir: Path, rows: int) -> dict:
    return _slice_metrics(work_dir, "duckdb")


def slice_metrics_spark(work_dir: Path, rows: int) -> dict:
    return _slice_metrics(work_dir, "spark")


def _publish_fresh(work_dir: Path, engine: str) -> dict:
    from warehouse.splits import publish_split_version

    layout = _fresh_warehouse(work_dir, engine)
    spark_start = _start_spark(layout) if engine == "spark" else 0.0
    os.environ[ENGINE_ENV] = engine
    result = publish_split_version(layout, bench_config())
    return {"version": result.version, "spark_start_seconds": round(spark_start, 3)}


def _slice_metrics(work_dir: Path, engine: str) -> dict:
    from evaluation.pipeline import analyse_slices

    layout = bench_layout(work_dir)
    spark_start = _start_spark(layout) if engine == "spark" else 0.0
    os.environ[ENGINE_ENV] = engine
    metrics, low = analyse_slices(layout, bench_config(), MODEL_VERSION, newest_version(layout))
    return {
        "slice_rows": len(metrics),
        "low_performing": len(low),
        "spark_start_seconds": round(spark_start, 3),
    }


def _fresh_warehouse(work_dir: Path, engine: str) -> WarehouseLayout:
    """A warehouse with the pipeline group's ingested examples and no split version yet."""
    source = bench_layout(work_dir)
    layout = WarehouseLayout(work_dir / f"assign-{engine}").ensure()
    for name in ("examples_dir", "ingested_files_dir", "batch_decisions_dir"):
        linked, original = getattr(layout, name), getattr(source, name)
        if original.exists() and not linked.is_symlink():
            linked.rmdir()  # ensure() made it empty
            linked.symlink_to(original, target_is_directory=True)
    return layout


def _start_spark(layout: WarehouseLayout) -> float:
    from warehouse.spark_session import spark_session

    started = time.perf_counter()
    spark_session(layout.scratch)
    return time.perf_counter() - started
