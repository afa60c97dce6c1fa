"""Paired comparison of two model versions on the examples both predicted.

Both models are scored on the same examples, so each example is a pair: the test is McNemar's
on the discordant pairs (only A wrong: b; only B wrong: c), exact (a binomial test), and the
difference in error rate B - A = (c - b) / n gets Bonett and Price's interval for paired
proportions. Every split and slice is one test; Holm's adjustment across all of them keeps the
family-wise error rate at `alpha`, so a listed regression is a real one. A row that is not
significant is "no detectable difference", with the smallest difference the sample could have
detected, never a win or a loss.

Across split versions, assignments are sticky, so an example keeps its split: the models are
compared on the examples predicted by both that sit in the same split in both versions, scored
against the newer version's gold label (it carries accepted label corrections). Everything
else is counted, with the reason it was left out.

Counting happens in one DuckDB pass (a paired GROUPING SETS over the joined files); only the
per-slice counts come back to Python for the statistics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypedDict

import duckdb

from deployment.errors import BayeslineError
from evaluation.diagnosis import GAP_KEYS, GAP_NEEDS
from evaluation.predictions import list_model_versions, predictions_location, safe_model_version
from evaluation.rows_stored import StoredRow, StoredRowT
from evaluation.slices import slice_grouping
from evaluation.stats import (
    holm_adjust,
    mcnemar_exact_p_value,
    minimum_detectable_difference,
    paired_difference_interval,
)
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_literal
from warehouse.lake_tables import MODEL_COMPARISON_SUMMARIES, MODEL_COMPARISONS
from warehouse.layout import WarehouseLayout
from warehouse.schema import MODEL_COMPARISON_COLUMNS, MODEL_COMPARISON_SUMMARY_COLUMNS
from warehouse.slice_bins import slice_columns_of_version, slice_label
from warehouse.slice_names import is_overall
from warehouse.split_names import SPLITS, SplitName
from warehouse.splits import version_location
from warehouse.storage import store_evaluation_rows, writer_connection

#: What a row (or the whole comparison) says about B against A.
Verdict = Literal["regressed", "improved", "no detectable difference"]
REGRESSED: Verdict = "regressed"
IMPROVED: Verdict = "improved"
NO_DIFFERENCE: Verdict = "no detectable difference"
#: The target distribution: where a regression blocks promotion.
GATED_SPLITS: tuple[SplitName, ...] = ("dev", "test")


class ComparedModels(TypedDict):
    """The columns naming the two models of a comparison, shared by both of its tables."""

    model_a: str
    split_version_a: int
    model_b: str
    split_version_b: int


class ComparisonRow(ComparedModels):
    """A MODEL_COMPARISON_COLUMNS row: B against A on one split and slice (B - A)."""

    split: SplitName
    slice_column: str
    slice_value: str
    n: int
    a_errors: int
    b_errors: int
    a_error_rate: float
    b_error_rate: float
    a_only_errors: int
    b_only_errors: int
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    verdict: Verdict
    min_detectable_difference: float
    computed_at: datetime


class ComparisonSummaryRow(ComparedModels):
    """A MODEL_COMPARISON_SUMMARY_COLUMNS row: one comparison, its JSON columns as text."""

    n_compared: int
    left_out: str
    gap_changes: str
    regressed_slices: str
    improved_slices: str
    verdict: Verdict
    computed_at: datetime


class PairedCounts(TypedDict):
    """Both models' errors on the examples of one split and slice they both predicted."""

    split: SplitName
    slice_column: str
    slice_value: str
    n: int
    a_errors: int
    b_errors: int
    a_only: int  # discordant: only A wrong
    b_only: int  # discordant: only B wrong


class ComparisonError(BayeslineError, ValueError):
    """The comparison cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class ModelRef:
    """A registered model version on one split version."""

    model_version: str
    split_version: int

    @property
    def label(self) -> str:
        return f"{self.model_version} (v{self.split_version})"


@dataclass(frozen=True)
class Comparison:
    """B against A: one row per split and slice, what was left out, and the gap changes."""

    a: ModelRef
    b: ModelRef
    rows: list[ComparisonRow]  # significant rows first
    n_compared: int
    left_out: dict[str, int] = field(default_factory=dict)  # reason -> examples
    gap_changes: dict[str, float | None] = field(default_factory=dict)  # B's gap - A's gap

    def rows_with(
        self, verdict: Verdict, splits: tuple[SplitName, ...] = tuple(SPLITS)
    ) -> list[ComparisonRow]:
        return [r for r in self.rows if r["verdict"] == verdict and r["split"] in splits]

    @property
    def regressions(self) -> list[ComparisonRow]:
        """Significant regressions on the target splits (dev, test): what blocks promotion."""
        return self.rows_with(REGRESSED, GATED_SPLITS)

    @property
    def verdict(self) -> Verdict:
        if self.regressions:
            return REGRESSED
        return IMPROVED if self.rows_with(IMPROVED, GATED_SPLITS) else NO_DIFFERENCE


def resolve_model(
    layout: WarehouseLayout, model_version: str, split_version: int | None
) -> ModelRef:
    """The registered pair for a model version: on `split_version`, else its newest one."""
    registered = list_model_versions(layout)
    versions = sorted(v for m, v in registered if m == model_version)
    if not versions:
        known = ", ".join(sorted({m for m, _ in registered})) or "none yet"
        raise ComparisonError(
            f"unknown model version {model_version!r}; registered: {known} "
            "(`bayesline predictions add` registers one)"
        )
    if split_version is None:
        return ModelRef(model_version, versions[-1])
    if split_version not in versions:
        shown = ", ".join(f"v{v}" for v in versions)
        raise ComparisonError(
            f"{model_version!r} has no predictions on split version {split_version} (it has "
            f"{shown}): leave out --split-version to compare each model's newest"
        )
    return ModelRef(model_version, split_version)


def compare_models(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    a: ModelRef,
    b: ModelRef,
    now: datetime | None = None,
) -> Comparison:
    """Compare B against A and store the result (model_comparisons and its summary)."""
    if a == b:
        raise ComparisonError(
            f"{a.label} compared with itself: name two different model versions, e.g. the "
            "champion (`bayesline models list`) and a challenger"
        )
    with writer_connection(layout) as con:
        counts = _paired_counts(con, config, layout, a, b)
        overall = [c for c in counts if is_overall(c["slice_column"])]
        n_compared = sum(c["n"] for c in overall)
        left_out = _left_out(con, layout, a, b, n_compared)
    if n_compared == 0:
        raise ComparisonError(
            f"{a.label} and {b.label} share no example in the same split: predict the same "
            "examples with both (e.g. the dev split of one split version)"
        )
    computed_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    rows = _judge(counts, a, b, config.evaluation.alpha, computed_at)
    comparison = Comparison(a, b, rows, n_compared, left_out, _gap_changes(overall))
    _store(layout, comparison, computed_at)
    return comparison


def _files(layout: WarehouseLayout, ref: ModelRef) -> tuple[str, str]:
    predictions = quote_literal(predictions_location(layout, ref.model_version, ref.split_version))
    splits = quote_literal(version_location(layout, ref.split_version, "*.parquet"))
    return f"read_parquet({predictions})", f"read_parquet({splits})"


def _paired_counts(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    layout: WarehouseLayout,
    a: ModelRef,
    b: ModelRef,
) -> list[PairedCounts]:
    """Per split and slice: n, each model's errors and the two discordant counts."""
    pred_a, split_a = _files(layout, a)
    pred_b, split_b = _files(layout, b)
    newer = split_b if b.split_version >= a.split_version else split_a
    # The newer version's slices (and bin edges), as its examples are the ones joined.
    newest = max(a.split_version, b.split_version)
    columns = slice_columns_of_version(con, config, newest, version_location(layout, newest))
    grouping = slice_grouping(config, "s", columns)
    same_split = ""
    if a.split_version != b.split_version:
        older = split_a if newer == split_b else split_b
        same_split = (
            f"JOIN (SELECT example_id, split AS old_split FROM {older}) AS o "
            "USING (example_id) WHERE o.old_split = s.split"
        )
    cursor = con.execute(
        f"""
        WITH paired AS (
            SELECT s.split, pa.predicted_label <> s.label AS a_wrong,
                   pb.predicted_label <> s.label AS b_wrong {grouping.values}
            FROM {pred_a} AS pa JOIN {pred_b} AS pb USING (example_id)
            JOIN {newer} AS s USING (example_id) {same_split}
        )
        SELECT split, {grouping.column} AS slice_column, {grouping.value} AS slice_value,
               count(*) AS n, count_if(a_wrong) AS a_errors, count_if(b_wrong) AS b_errors,
               count_if(a_wrong AND NOT b_wrong) AS a_only,
               count_if(b_wrong AND NOT a_wrong) AS b_only
        FROM paired GROUP BY {grouping.sets}
        """
    )
    return [
        {
            "split": split,
            "slice_column": column,
            "slice_value": value,
            "n": n,
            "a_errors": a_errors,
            "b_errors": b_errors,
            "a_only": a_only,
            "b_only": b_only,
        }
        for split, column, value, n, a_errors, b_errors, a_only, b_only in cursor.fetchall()
    ]


def _left_out(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    a: ModelRef,
    b: ModelRef,
    n_compared: int,
) -> dict[str, int]:
    """Examples predicted by one model only, or not in the same split in both versions."""
    pred_a, split_a = _files(layout, a)
    pred_b, split_b = _files(layout, b)
    if a.split_version == b.split_version:
        # Registration admits only ids of the split version, so every example both predicted
        # was compared and the rest were predicted by one model only. Parquet keeps row
        # counts in its footer: no second pass over the data.
        n_a, n_b = (_count(con, f"SELECT count(*) FROM {p}") for p in (pred_a, pred_b))
        return _nonzero(
            {
                f"predicted by {a.label} only": n_a - n_compared,
                f"predicted by {b.label} only": n_b - n_compared,
            }
        )
    counts = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE pb.example_id IS NULL),
               count(*) FILTER (WHERE pa.example_id IS NULL),
               count(*) FILTER (WHERE pa.example_id IS NOT NULL AND pb.example_id IS NOT NULL
                                AND (sa.split IS NULL OR sb.split IS NULL)),
               count(*) FILTER (WHERE sa.split <> sb.split)
        FROM (SELECT example_id FROM {pred_a}) AS pa
        FULL JOIN (SELECT example_id FROM {pred_b}) AS pb USING (example_id)
        LEFT JOIN (SELECT example_id, split FROM {split_a}) AS sa USING (example_id)
        LEFT JOIN (SELECT example_id, split FROM {split_b}) AS sb USING (example_id)
        """
    ).fetchone()
    only_a, only_b, not_in_both, moved = counts or (0, 0, 0, 0)  # an aggregate: one row
    reasons = {
        f"predicted by {a.label} only": only_a,
        f"predicted by {b.label} only": only_b,
        f"not in both split versions (v{a.split_version}, v{b.split_version})": not_in_both,
        "in a different split in the other version": moved,
    }
    return _nonzero(reasons)


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    """The one number a `SELECT count(*)` query returns."""
    row = con.execute(query).fetchone()
    return int(row[0]) if row else 0


def _nonzero(reasons: dict[str, int]) -> dict[str, int]:
    return {reason: count for reason, count in reasons.items() if count}


def _compared_models(a: ModelRef, b: ModelRef) -> ComparedModels:
    return {
        "model_a": a.model_version,
        "split_version_a": a.split_version,
        "model_b": b.model_version,
        "split_version_b": b.split_version,
    }


def _judge(
    counts: list[PairedCounts], a: ModelRef, b: ModelRef, alpha: float, computed_at: datetime
) -> list[ComparisonRow]:
    """Each count row with its difference, interval, p-values (Holm), verdict and MDD."""
    p_values = [mcnemar_exact_p_value(c["a_only"], c["b_only"]) for c in counts]
    rows: list[ComparisonRow] = []
    for c, p, p_adj in zip(counts, p_values, holm_adjust(p_values), strict=True):
        n = c["n"]
        difference = (c["b_only"] - c["a_only"]) / n
        low, high = paired_difference_interval(c["a_only"], c["b_only"], n)
        verdict: Verdict = NO_DIFFERENCE
        if p_adj < alpha and difference != 0:
            verdict = REGRESSED if difference > 0 else IMPROVED
        rows.append(
            {
                **_compared_models(a, b),
                "split": c["split"],
                "slice_column": c["slice_column"],
                "slice_value": c["slice_value"],
                "n": n,
                "a_errors": c["a_errors"],
                "b_errors": c["b_errors"],
                "a_error_rate": c["a_errors"] / n,
                "b_error_rate": c["b_errors"] / n,
                "a_only_errors": c["a_only"],
                "b_only_errors": c["b_only"],
                "difference": difference,
                "ci_low": low,
                "ci_high": high,
                "p_value": p,
                "p_adjusted": p_adj,
                "verdict": verdict,
                "min_detectable_difference": minimum_detectable_difference(
                    c["a_only"] + c["b_only"], n, alpha
                ),
                "computed_at": computed_at,
            }
        )
    return sort_rows(rows)


def sort_rows(rows: Sequence[StoredRowT]) -> list[StoredRowT]:
    """Regressions first, then improvements (each by adjusted p), then the rest in order."""
    order: dict[str, int] = {REGRESSED: 0, IMPROVED: 1, NO_DIFFERENCE: 2}
    split_order: dict[str, int] = {s: i for i, s in enumerate(SPLITS)}
    return sorted(
        rows,
        key=lambda r: (
            order[r["verdict"]],
            r["p_adjusted"] if r["verdict"] != NO_DIFFERENCE else 0,
            split_order.get(r["split"], 9),
            not is_overall(r["slice_column"]),
            r["slice_column"],
            r["slice_value"],
        ),
    )


def _gap_changes(overall: list[PairedCounts]) -> dict[str, float | None]:
    """B's gap minus A's for each diagnosis gap both can measure on the shared examples
    (human-level is the same for both, so avoidable bias changes with train error)."""
    by_split: dict[str, PairedCounts] = {c["split"]: c for c in overall}

    def error(split: str, side: Literal["a", "b"]) -> float:
        """A model's error on a split both sides of the gap have (human-level: none)."""
        if split == "human_level":
            return 0.0
        c = by_split[split]
        return (c["a_errors"] if side == "a" else c["b_errors"]) / c["n"]

    changes: dict[str, float | None] = {}
    for key in GAP_KEYS:
        sides = _gap_sides(key, by_split)
        if sides is None:
            changes[key] = None
            continue
        low, high = sides
        gap_b = error(high, "b") - error(low, "b")
        gap_a = error(high, "a") - error(low, "a")
        changes[key] = gap_b - gap_a
    return changes


def _gap_sides(key: str, present: Mapping[str, object]) -> tuple[str, str] | None:
    """The (lower, higher) stages whose errors make the gap, None when one is missing."""
    needs = GAP_NEEDS[key]
    if key == "avoidable_bias":
        return ("human_level", "train") if "train" in present else None
    if key == "variance" and "train_dev" not in present:
        needs = ("train", "dev")  # dev - train stands in, as in the diagnosis
    low, high = needs
    return (low, high) if low in present and high in present else None


def _store(layout: WarehouseLayout, comparison: Comparison, computed_at: datetime) -> None:
    a, b = comparison.a, comparison.b
    stem = (
        f"{safe_model_version(a.model_version)}__v{a.split_version:04d}__vs__"
        f"{safe_model_version(b.model_version)}__v{b.split_version:04d}"
    )
    summary: ComparisonSummaryRow = {
        **_compared_models(a, b),
        "n_compared": comparison.n_compared,
        "left_out": json.dumps(comparison.left_out),
        "gap_changes": json.dumps(comparison.gap_changes),
        "regressed_slices": json.dumps([slice_name(r) for r in comparison.regressions]),
        "improved_slices": json.dumps(
            [slice_name(r) for r in comparison.rows_with(IMPROVED, GATED_SPLITS)]
        ),
        "verdict": comparison.verdict,
        "computed_at": computed_at,
    }
    store_evaluation_rows(
        layout,
        stem,
        {
            MODEL_COMPARISONS.view: (MODEL_COMPARISON_COLUMNS, comparison.rows),
            MODEL_COMPARISON_SUMMARIES.view: (MODEL_COMPARISON_SUMMARY_COLUMNS, [summary]),
        },
    )


def slice_name(row: StoredRow) -> str:
    """'dev: overall', 'test: channel = ios' or 'test: age in [45, 65)'."""
    if is_overall(row["slice_column"]):
        return f"{row['split']}: overall"
    return f"{row['split']}: {slice_label(row['slice_column'], row['slice_value'])}"


def verdict_words(row: StoredRow) -> str:
    """The row's verdict; a non-significant one says what the sample could have detected."""
    if row["verdict"] != NO_DIFFERENCE:
        return str(row["verdict"])
    return f"{NO_DIFFERENCE} (could detect ±{100 * row['min_detectable_difference']:.1f} pp)"
