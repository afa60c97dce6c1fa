"""One big landing file, then the same export a day later, each ingested under the writers'
memory cap (BAYESLINE_MEMORY_LIMIT; `make bench-single-file` leaves it at the default).

Day one is a single CSV file of `rows` rows: at 67M rows, the file that ran out of memory at the
default cap (BENCHMARKS.md). Day two is its cumulative re-export, as most source systems
deliver: every row again, one in a hundred new and one in a thousand corrected upstream, so
ingesting it matches every row against the warehouse. The reference copies day one's CSV to
Parquet with bare DuckDB.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from benchmarks.bench_pipeline import bench_config, write_landing_csv
from benchmarks.measure import StageSpec
from warehouse.layout import WarehouseLayout

SOURCE = "web"
NEW_PER_HUNDRED = 1
CORRECTED = "i % 1000 = 7"  # one row in a thousand gets the other label on day two

SPECS = [
    StageSpec("single_file_reference", "benchmarks.bench_single_file:copy_reference"),
    StageSpec(
        "ingest_single_file",
        "benchmarks.bench_single_file:ingest_single_file",
        reference="single_file_reference",
    ),
    StageSpec("ingest_cumulative_export", "benchmarks.bench_single_file:ingest_cumulative_export"),
]


def single_file_layout(work_dir: Path) -> WarehouseLayout:
    """A warehouse of its own: the pipeline group's landing files stay out of it."""
    return WarehouseLayout(work_dir / "single_file")


def _day_two_path(work_dir: Path) -> Path:
    """Where day two's export waits, outside the landing folder, until its stage lands it."""
    return work_dir / "single_file_day2" / "export-day2.csv"


def prepare(work_dir: Path, rows: int) -> None:
    layout = single_file_layout(work_dir).ensure()
    (layout.landing / SOURCE).mkdir(parents=True, exist_ok=True)
    write_landing_csv(layout.landing / SOURCE / "export-day1.csv", 0, rows)
    later = _day_two_path(work_dir)
    later.parent.mkdir(parents=True, exist_ok=True)
    write_landing_csv(later, 0, rows + rows * NEW_PER_HUNDRED // 100, relabelled=CORRECTED)


def copy_reference(work_dir: Path, rows: int) -> None:
    landing = single_file_layout(work_dir).landing / SOURCE / "export-day1.csv"
    duckdb.execute(
        f"COPY (SELECT * FROM read_csv('{landing}')) TO '{work_dir / 'single_file_copy.parquet'}'"
    )


def ingest_single_file(work_dir: Path, rows: int) -> dict:
    return _ingest(single_file_layout(work_dir))


def ingest_cumulative_export(work_dir: Path, rows: int) -> dict:
    layout = single_file_layout(work_dir)
    shutil.move(_day_two_path(work_dir), layout.landing / SOURCE / "export-day2.csv")
    return _ingest(layout)


def _ingest(layout: WarehouseLayout) -> dict:
    from warehouse.ingest import ingest_landing_files
    from warehouse.storage import configured_memory_limit

    (result,) = ingest_landing_files(layout, bench_config()).new_files
    if result.status != "loaded":
        raise RuntimeError(f"the synthetic export was not loaded: {result.reason}")
    return {
        "rows": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_updated": result.rows_updated,
        "rows_already_present": result.rows_already_present,
        "rows_rejected": result.rows_rejected,
        "memory_limit": configured_memory_limit(),
    }
