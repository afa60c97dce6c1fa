"""Ingestion's two read paths on the same rows: DuckDB's reader on a clean file, and the line
parser on the same file with one unterminated quote on its first data line (which sends the
whole file there). What salvaging a messy file costs, in time and in peak memory."""

from __future__ import annotations

from pathlib import Path

import duckdb

from benchmarks.bench_pipeline import SLICES, bench_config
from benchmarks.measure import StageSpec
from warehouse.layout import WarehouseLayout

SPECS = [
    StageSpec("ingest_duckdb_path", "benchmarks.bench_read_paths:ingest_duckdb_path"),
    StageSpec(
        "ingest_line_parser",
        "benchmarks.bench_read_paths:ingest_line_parser",
        reference="ingest_duckdb_path",
    ),
]


def _layout(work_dir: Path, variant: str) -> WarehouseLayout:
    return WarehouseLayout(work_dir / "read_paths" / variant)


def prepare(work_dir: Path, rows: int) -> None:
    """One training-source CSV per variant, with the pipeline group's columns."""
    slices = ", ".join(f"'v' || (i * {k + 3} % {k + 4}) AS {name}" for k, name in enumerate(SLICES))
    for variant, first_text in (("clean", "'review number 0'"), ("messy", "'\"an open quote'")):
        landing = _layout(work_dir, variant).ensure().landing / "web"
        landing.mkdir(parents=True, exist_ok=True)
        # QUOTE '': the quote of the messy variant is written as it is, never escaped.
        duckdb.execute(
            f"""COPY (SELECT 'id' || i AS id, 'u' || (i // 4) AS user_id,
                       CASE WHEN i % 3 = 0 THEN 'neg' ELSE 'pos' END AS label,
                       CASE WHEN i = 0 THEN {first_text}
                            ELSE 'review number ' || i || ' says ' || (i % 97) END AS text,
                       {slices}
                FROM range({rows}) AS t(i))
                TO '{landing / "part.csv"}' (HEADER, QUOTE '')"""
        )


def _ingest(work_dir: Path, variant: str) -> dict:
    from warehouse.ingest import ingest_landing_files

    (result,) = ingest_landing_files(_layout(work_dir, variant), bench_config()).files
    return {
        "rows_loaded": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
        "read_path": result.read_path,
    }


def ingest_duckdb_path(work_dir: Path, rows: int) -> dict:
    return _ingest(work_dir, "clean")


def ingest_line_parser(work_dir: Path, rows: int) -> dict:
    return _ingest(work_dir, "messy")
