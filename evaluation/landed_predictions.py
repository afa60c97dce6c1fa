"""Predictions files dropped in landing/_predictions/, registered once each.

Each file names its own model_version and split_version (one pair per file) and is registered
like `bayesline predictions add` would; a record keyed by the file's sha256 keeps a file from
being registered twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from evaluation.predictions import (
    PredictionsError,
    PredictionsSummary,
    register_staged_predictions,
    safe_model_version,
    stage_predictions_file,
)
from warehouse.config import BayeslineConfig
from warehouse.hashing import file_sha256
from warehouse.lake_tables import PREDICTIONS
from warehouse.layout import WarehouseLayout
from warehouse.storage import write_lake_records, writer_connection, writer_lock

LANDED_SOURCE = "_predictions"  # landing/_predictions/: a reserved (underscore) source

LANDED_RECORD_COLUMNS = {
    "content_sha256": "VARCHAR",
    "file_path": "VARCHAR",
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "rows": "BIGINT",
    "status": "VARCHAR",  # "registered" or "already_registered"
    "recorded_at": "TIMESTAMP",
}


def register_landed_predictions(
    layout: WarehouseLayout, config: BayeslineConfig
) -> list[PredictionsSummary]:
    """Register each new file in landing/_predictions/ once (by its sha256).

    Each file names its own model_version and split_version columns (one pair per file). A bad
    file comes back with `error` set instead of raising, and is not recorded: it is reported on
    every run until it is fixed or removed (a later split version may make it valid).
    """
    layout.ensure()
    results = []
    with writer_lock(layout):
        for path in _landed_files(layout):
            sha = file_sha256(path)
            if layout.store.holds(_landed_record(layout, sha)):
                continue
            summary = _register_landed_file(layout, config, path)
            if summary.error is None:
                _write_landed_record(layout, sha, path, summary)
            results.append(summary)
    return results


def _landed_files(layout: WarehouseLayout) -> list[Path]:
    folder = layout.landing / LANDED_SOURCE
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _landed_record(layout: WarehouseLayout, sha: str) -> Path:
    return layout.table_dir(PREDICTIONS) / "_landed" / f"{sha}.parquet"


def _register_landed_file(
    layout: WarehouseLayout, config: BayeslineConfig, path: Path
) -> PredictionsSummary:
    model_version, split_version = "", 0
    try:
        with writer_connection(layout) as con:
            columns = stage_predictions_file(con, path)
            model_version, split_version = _declared_pair(con, path, columns)
            return register_staged_predictions(
                con, layout, config, path, columns, model_version, split_version
            )
    except (PredictionsError, duckdb.Error) as exc:
        return PredictionsSummary(model_version, split_version, 0, source=path, error=str(exc))


def _declared_pair(
    con: duckdb.DuckDBPyConnection, path: Path, columns: list[str]
) -> tuple[str, int]:
    missing = [c for c in ("model_version", "split_version") if c not in columns]
    if missing:
        raise PredictionsError(
            f"{path.name} lacks column(s) {', '.join(missing)}: a landed predictions file "
            "names its model_version and split_version in columns (one pair per file)"
        )
    pairs = con.execute(
        "SELECT DISTINCT CAST(model_version AS VARCHAR), TRY_CAST(split_version AS INTEGER) "
        "FROM incoming_raw LIMIT 2"
    ).fetchall()
    if len(pairs) != 1 or None in pairs[0]:
        raise PredictionsError(
            f"{path.name} must hold exactly one model_version and one integer split_version "
            "(one pair per file); split it into one file per pair"
        )
    model_version: str = pairs[0][0]
    split_version: int = pairs[0][1]
    safe_model_version(model_version)
    return model_version, split_version


def _write_landed_record(
    layout: WarehouseLayout, sha: str, path: Path, summary: PredictionsSummary
) -> None:
    record = {
        "content_sha256": sha,
        "file_path": str(path),
        "model_version": summary.model_version,
        "split_version": summary.split_version,
        "rows": summary.rows,
        "status": "registered" if summary.created else "already_registered",
        "recorded_at": datetime.now(UTC).replace(tzinfo=None),
    }
    write_lake_records(layout, LANDED_RECORD_COLUMNS, [record], _landed_record(layout, sha))
