"""How far predicted probabilities can be trusted: reliability bins and the expected
calibration error (ECE) per split, computed in DuckDB.

Each example's confidence is its top probability and it counts as correct when the label with
that probability is the gold label (top-label calibration, as Guo et al. 2017 define ECE).
Confidences fall in `BINS` equal-width bins; ECE is the n-weighted mean of |accuracy - mean
confidence| over the bins. A perfectly calibrated model that says 80% is right 80% of the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import duckdb

from evaluation.predictions import predictions_location
from warehouse.hashing import quote_literal
from warehouse.layout import WarehouseLayout
from warehouse.split_names import SPLITS
from warehouse.splits import version_location

BINS = 10


class CalibrationBin(TypedDict):
    """One split's examples whose top probability falls in one bin."""

    split: str
    bin: int
    n: int
    mean_confidence: float
    accuracy: float


def calibration_rows(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    model_version: str,
    split_version: int,
) -> list[dict[str, Any]]:
    """CALIBRATION_COLUMNS rows (one per split and non-empty bin); [] without probabilities."""
    path = predictions_location(layout, model_version, split_version)
    source = f"read_parquet({quote_literal(path)})"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    if "probs" not in present:
        return []  # registered before probabilities were stored
    splits = quote_literal(version_location(layout, split_version, "*.parquet"))
    cursor = con.execute(
        f"""
        WITH scored AS (
            SELECT s.split, list_max(map_values(p.probs)) AS confidence,
                   map_keys(p.probs)[list_position(map_values(p.probs),
                                                   list_max(map_values(p.probs)))] = s.label
                       AS correct
            FROM read_parquet({splits}) AS s JOIN {source} AS p USING (example_id)
            WHERE p.probs IS NOT NULL
        )
        SELECT split, least(CAST(floor(confidence * {BINS}) AS INTEGER), {BINS - 1}) AS bin,
               count(*) AS n, avg(confidence) AS mean_confidence,
               avg(CAST(correct AS DOUBLE)) AS accuracy
        FROM scored GROUP BY ALL ORDER BY split, bin
        """
    )
    bins = [
        CalibrationBin(split=split, bin=b, n=n, mean_confidence=confidence, accuracy=accuracy)
        for split, b, n, confidence, accuracy in cursor.fetchall()
    ]
    ece = expected_calibration_error(bins)
    rows: list[dict[str, Any]] = [
        {
            **b,
            "model_version": model_version,
            "split_version": split_version,
            "bin_low": b["bin"] / BINS,
            "bin_high": (b["bin"] + 1) / BINS,
            "ece": ece[b["split"]],
        }
        for b in bins
    ]
    order = {split: i for i, split in enumerate(SPLITS)}
    return sorted(rows, key=lambda r: (order.get(r["split"], len(order)), r["bin"]))


def expected_calibration_error(bins: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """split -> sum over its bins of n_b / N * |accuracy_b - mean confidence_b|."""
    weighted: dict[str, float] = {}
    totals: dict[str, int] = {}
    for b in bins:
        gap = abs(b["accuracy"] - b["mean_confidence"])
        weighted[b["split"]] = weighted.get(b["split"], 0.0) + b["n"] * gap
        totals[b["split"]] = totals.get(b["split"], 0) + b["n"]
    return {split: weighted[split] / totals[split] for split in weighted}


def ece_by_split(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, int, float]]:
    """(split, n, ECE) per split of stored calibration rows, in pipeline order."""
    summary: dict[str, tuple[int, float]] = {}
    for row in rows:
        n, _ = summary.get(row["split"], (0, 0.0))
        summary[row["split"]] = (n + row["n"], row["ece"])
    return [(split, *summary[split]) for split in SPLITS if split in summary]
