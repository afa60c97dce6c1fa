"""One big landing file ingested under the writers' memory cap (BAYESLINE_MEMORY_LIMIT;
`make bench-single-file` leaves it at the default), next to bare DuckDB copying it to Parquet.

At 67M rows this is the file that ran out of memory at the default cap (BENCHMARKS.md). Its
cumulative re-export a day later is the `cumulative` group (bench_cumulative.py).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from benchmarks.bench_pipeline import bench_config, write_landing_csv
from benchmarks.measure import StageSpec
from warehouse.ingest import FileIngestResult
from warehouse.layout import WarehouseLayout

SOURCE = "web"

SPECS = [
    StageSpec("single_file_reference", "benchmarks.bench_single_file:copy_reference"),
    StageSpec(
        "ingest_single_file",
        "benchmarks.bench_single_file:ingest_single_file",
        reference="single_file_reference",
    ),
]


def single_file_layout(work_dir: Path) -> WarehouseLayout:
    """A warehouse of its own: the pipeline group's landing files stay out of it."""
    return WarehouseLayout(work_dir / "single_file")


def prepare(work_dir: Path, rows: int) -> None:
    landing = single_file_layout(work_dir).ensure().landing / SOURCE
    landing.mkdir(parents=True, exist_ok=True)
    write_landing_csv(landing / "export-day1.csv", 0, rows)


def copy_reference(work_dir: Path, rows: int) -> None:
    landing = single_file_layout(work_dir).landing / SOURCE / "export-day1.csv"
    copy = work_dir / "single_file_copy.parquet"
    duckdb.execute(f"COPY (SELECT * FROM read_csv('{landing}')) TO '{copy}'")
    copy.unlink()  # at 67M rows, gigabytes the ingest stage's spilling may need


def ingest_single_file(work_dir: Path, rows: int) -> dict:
    return ingest_one_new_file(single_file_layout(work_dir))


def ingest_one_new_file(layout: WarehouseLayout) -> dict:
    """Ingest the one new landing file under the configured cap; what happened to its rows."""
    from warehouse.ingest import ingest_landing_files
    from warehouse.storage import configured_memory_limit

    (result,) = ingest_landing_files(layout, bench_config()).new_files
    return {**row_counts(result), "memory_limit": configured_memory_limit()}


def row_counts(result: FileIngestResult) -> dict:
    if result.status != "loaded":
        raise RuntimeError(f"the synthetic export was not loaded: {result.reason}")
    return {
        "rows": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_updated": result.rows_updated,
        "rows_already_present": result.rows_already_present,
        "rows_rejected": result.rows_rejected,
    }
