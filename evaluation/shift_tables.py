"""The mismatch explainer's rows as table cells, for the Dagster metadata and the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from warehouse.slice_bins import slice_label

SLICE_HEADER = (
    "slice",
    "training share",
    "target share",
    "coverage",
    "column JS distance",
    "column p (Holm)",
    "under-covered",
)
FEATURE_HEADER = ("points to", "feature", "kind", "weight", "in training", "in target")
MAX_SLICE_ROWS = 20


def slice_cells(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """The values whose share differs most first (under-covered ones before them)."""
    ranked = sorted(
        rows,
        key=lambda r: (
            not r["under_covered"],
            -abs(r["share_target"] - r["share_training"]),
            r["slice_column"],
            r["slice_value"],
        ),
    )
    return [
        (
            slice_label(r["slice_column"], r["slice_value"]),
            f"{r['share_training']:.1%}",
            f"{r['share_target']:.1%}",
            "—" if r["coverage"] is None else f"{r['coverage']:.2f}",
            "—" if r["js_distance"] is None else f"{r['js_distance']:.3f}",
            _p(r["p_holm"]),
            "yes" if r["under_covered"] else "",
        )
        for r in ranked[:MAX_SLICE_ROWS]
    ]


def feature_cells(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            r["direction"],
            r["feature"],
            r["kind"],
            f"{r['coefficient']:+.2f}",
            f"{r['share_training']:.1%}",
            f"{r['share_target']:.1%}",
        )
        for r in rows
    ]


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
