"""A cumulative re-export, as most source systems deliver: yesterday's export of `rows` rows is
in the warehouse (ingested untimed), and today's holds every row again, one in a hundred new and
one in a thousand corrected upstream. Ingesting it matches every row against the warehouse:
the new rows load, the corrected ones load as new revisions, the rest are already present.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.bench_pipeline import bench_config, write_landing_csv
from benchmarks.bench_single_file import ingest_one_new_file
from benchmarks.measure import StageSpec
from warehouse.layout import WarehouseLayout

SOURCE = "web"
NEW_PER_HUNDRED = 1
CORRECTED = "i % 1000 = 7"  # one row in a thousand gets the other label the second day

SPECS = [
    StageSpec("ingest_cumulative_export", "benchmarks.bench_cumulative:ingest_cumulative_export")
]


def cumulative_layout(work_dir: Path) -> WarehouseLayout:
    return WarehouseLayout(work_dir / "cumulative")


def _day_two_path(work_dir: Path) -> Path:
    """Where the second export waits, outside the landing folder, until its stage lands it."""
    return work_dir / "cumulative_day2" / "export-day2.csv"


def prepare(work_dir: Path, rows: int) -> None:
    from warehouse.ingest import ingest_landing_files

    layout = cumulative_layout(work_dir).ensure()
    (layout.landing / SOURCE).mkdir(parents=True, exist_ok=True)
    write_landing_csv(layout.landing / SOURCE / "export-day1.csv", 0, rows)
    ingest_landing_files(layout, bench_config())
    later = _day_two_path(work_dir)
    later.parent.mkdir(parents=True, exist_ok=True)
    write_landing_csv(later, 0, rows + rows * NEW_PER_HUNDRED // 100, relabelled=CORRECTED)


def ingest_cumulative_export(work_dir: Path, rows: int) -> dict:
    layout = cumulative_layout(work_dir)
    shutil.move(_day_two_path(work_dir), layout.landing / SOURCE / "export-day2.csv")
    return ingest_one_new_file(layout)
