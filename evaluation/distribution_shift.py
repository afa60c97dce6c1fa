"""The data-mismatch explainer: how training and target data differ, and how much of the
dev - train-dev gap the difference in mix explains.

- Slice columns: each value's share in training and target data, and the under-covered target
  values (evaluation/slice_shift.py), over every example of the version.
- A domain classifier tells train-dev (training distribution) from dev (target) examples
  (evaluation/domain_classifier.py); its out-of-fold probabilities give the AUC and, as odds,
  importance weights for train-dev (evaluation/shift_estimates.py), and its model fitted on
  both ranks train's training-distribution examples by how target-like they are.
- The classifier's examples are samples by sha256 of (salt, a namespace, example id): at most
  half of `baseline_max_train_rows` from each side, and `baseline_max_train_rows` train
  examples to rank, so the cost is flat past that size.
- Errors are the evaluated model's (the newest diagnosis on the version) on those train-dev and
  dev examples; a model with no train-dev predictions gets the shift without the split of the
  gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from deployment.errors import BayeslineError
from evaluation.diagnosis import MINUS
from evaluation.domain_classifier import (
    FOLDS,
    MIN_PER_SIDE,
    NAMESPACE,
    DomainFit,
    Examples,
    ShiftFeature,
    component_folds,
    fit_domain_classifier,
)
from evaluation.predictions import predictions_location, predictions_path
from evaluation.shift_chart import shift_chart
from evaluation.shift_estimates import (
    MAX_WEIGHT,
    ShiftEstimates,
    estimate_shift,
    importance_weights,
)
from evaluation.slice_shift import slice_shift_rows, under_covered
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.config import BayeslineConfig
from warehouse.hashing import fields_hash_sql, quote_identifier, quote_literal
from warehouse.layout import WarehouseLayout
from warehouse.schema import (
    DISTRIBUTION_SHIFT_COLUMNS,
    SHIFT_FEATURE_COLUMNS,
    SLICE_SHIFT_COLUMNS,
    TARGET_LIKE_EXAMPLE_COLUMNS,
)
from warehouse.slice_bins import SliceColumn, slice_columns_of_version, slice_label
from warehouse.slice_names import OVERALL_COLUMN_SQL
from warehouse.splits import published_versions, version_location
from warehouse.storage import (
    store_evaluation_rows,
    write_bytes_atomically,
    writer_connection,
)

SHOWN_UNDER_COVERED = 3  # target slices named in the remedy line
#: Below this share of train-dev as effective sample size, the weighted error leans on a few
#: examples, and the verdict says so.
LOW_OVERLAP = 0.1

#: A row of one of the explainer's tables, column -> value (the columns in warehouse/schema.py).
ShiftRow = dict[str, Any]


class TargetLikeExample(TypedDict):
    """A train example of the training distribution: a TARGET_LIKE_EXAMPLE_COLUMNS row
    without its split version and time."""

    rank: int
    example_id: str
    source: str
    target_probability: float
    importance_weight: float


class DistributionShiftError(BayeslineError, ValueError):
    """The shift cannot be measured; the message says why and what to do."""


@dataclass(frozen=True)
class DistributionShift:
    split_version: int
    summary: ShiftRow  # DISTRIBUTION_SHIFT_COLUMNS
    slices: list[ShiftRow]  # SLICE_SHIFT_COLUMNS
    features: list[ShiftFeature]
    n_ranked: int  # rows of target_like_examples
    chart_path: Path


def measure_distribution_shift(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    split_version: int | None = None,
    now: datetime | None = None,
    model_version: str | None = None,
) -> DistributionShift:
    """Measure, store the four tables and draw the chart. The errors are `model_version`'s,
    by default the model of the newest diagnosis on the version."""
    split_version = _resolve_version(layout, split_version)
    if not config.dataset.text_columns:
        raise DistributionShiftError(
            "the domain classifier reads the text payload, and this dataset has none "
            "(text_columns is empty): compare slice shares with the slice_metrics table instead"
        )
    model_version = model_version or _evaluated_model(layout, config, split_version)
    sample, columns, slices = load_shift_sample(layout, config, split_version, model_version)
    roles = np.asarray(sample.column("role").to_pylist(), dtype=object)
    fit_rows = _take(sample, _refuse_too_few(roles, split_version))
    domain, estimates, has_errors = _classify(fit_rows, columns, config, split_version)
    summary = _summary(
        split_version,
        model_version if has_errors else None,
        estimates,
        len({r["slice_column"] for r in slices if r["column_shifted"]}),
    )
    candidates = _take(sample, roles == "candidate")
    scores = (
        domain.model.probability(_examples(candidates, columns))
        if len(candidates)
        else np.array([], dtype=float)
    )
    ranked = _ranked(candidates, np.asarray(scores, dtype=float))
    stamp = {
        "split_version": split_version,
        "computed_at": (now or datetime.now(UTC)).replace(tzinfo=None),
    }
    summary["verdict"] = shift_verdict(summary)
    summary.update(stamp)
    tables = {
        "slice_shift": (SLICE_SHIFT_COLUMNS, [r | stamp for r in slices]),
        "distribution_shift": (DISTRIBUTION_SHIFT_COLUMNS, [summary]),
        "shift_features": (SHIFT_FEATURE_COLUMNS, [r | stamp for r in domain.features]),
        "target_like_examples": (TARGET_LIKE_EXAMPLE_COLUMNS, [r | stamp for r in ranked]),
    }
    stem = f"v{split_version:04d}"
    chart_path = layout.reports_dir / f"{stem}-distribution-shift.png"
    write_bytes_atomically(
        chart_path, shift_chart(summary, slices, f"Training vs target on v{split_version}")
    )
    store_evaluation_rows(layout, stem, tables)
    return DistributionShift(
        split_version, summary, slices, domain.features, len(ranked), chart_path
    )


def load_shift_sample(
    layout: WarehouseLayout, config: BayeslineConfig, split_version: int, model_version: str | None
) -> tuple[pa.Table, list[SliceColumn], list[ShiftRow]]:
    """The classifier's sample (role, text, slice values, keys, prediction), the version's
    slice columns, and the slice-share rows counted over every example."""
    with writer_connection(layout) as con:
        version_dir = version_location(layout, split_version)
        columns = slice_columns_of_version(con, config, split_version, version_dir)
        slices = slice_shift_rows(con, layout, config, split_version, columns)
        sql = _sample_sql(layout, config, split_version, columns, model_version)
        return con.sql(sql).to_arrow_table(), columns, slices


def shift_verdict(summary: ShiftRow) -> str:
    """One sentence: is there a shift, and how much of the gap does it explain."""
    auc = f"AUC {summary['auc']:.2f}, 95% {summary['auc_low']:.2f} to {summary['auc_high']:.2f}"
    if not summary["shift_detected"]:
        return (
            f"No shift detected: a classifier tells target from training examples no better "
            f"than chance ({auc})"
        )
    text = f"Training and target data differ ({auc})"
    if summary["explained"] is not None and summary["gap"] is not None:
        text += (
            f"; the shift in mix explains {_pp(summary['explained'])} "
            f"({_pp(summary['explained_low'])} to {_pp(summary['explained_high'])}) of the "
            f"{_pp(summary['gap'])} dev {MINUS} train-dev gap, leaving "
            f"{_pp(summary['residual'])} ({_pp(summary['residual_low'])} to "
            f"{_pp(summary['residual_high'])}) unexplained"
        )
        ess = summary["effective_sample_size"]
        if ess is not None and ess < LOW_OVERLAP * summary["n_training"]:
            text += (
                f"; but the reweighted train-dev rests on about {ess:,.0f} of its "
                f"{summary['n_training']:,} examples (the two distributions overlap little), "
                "so that split is rough: collecting target-like data is the surer remedy"
            )
    return text


def mismatch_line(summary: ShiftRow, slices: list[ShiftRow]) -> str:
    """The diagnosis's data-mismatch remedy, made specific: what to collect, what to reweight."""
    text = f"Data mismatch: {shift_verdict(summary)}."
    short = under_covered(slices)[:SHOWN_UNDER_COVERED]
    if short:
        named = "; ".join(
            f"{slice_label(r['slice_column'], r['slice_value'])} ({r['share_target']:.0%} of "
            f"target, {r['share_training']:.0%} of training)"
            for r in short
        )
        text += f" Collect more target-like examples of: {named}."
    if summary["shift_detected"]:
        text += (
            " Reweight or select training data by the target_like_examples table "
            "(train examples, most target-like first)."
        )
    return text


def stored_distribution_shift(
    con: duckdb.DuckDBPyConnection, split_version: int
) -> tuple[ShiftRow, list[ShiftRow], list[ShiftRow]] | None:
    """The newest stored explainer on a split version, read through the catalog views:
    (its distribution_shift row, its slice_shift rows, its shift_features rows)."""
    summary = fetch_dicts(
        con,
        "SELECT * FROM distribution_shift WHERE split_version = ? "
        "ORDER BY computed_at DESC LIMIT 1",
        [split_version],
    )
    if not summary:
        return None
    params = [split_version, summary[0]["computed_at"]]
    where = "WHERE split_version = ? AND computed_at = ?"
    return (
        summary[0],
        fetch_dicts(con, f"SELECT * FROM slice_shift {where}", params),
        fetch_dicts(con, f"SELECT * FROM shift_features {where} ORDER BY direction, rank", params),
    )


def _resolve_version(layout: WarehouseLayout, split_version: int | None) -> int:
    versions = published_versions(layout)
    if not versions:
        raise DistributionShiftError("no split version is published yet: publish splits first")
    if split_version is None:
        return versions[-1]
    if split_version not in versions:
        raise DistributionShiftError(f"split version {split_version} is not published")
    return split_version


def _evaluated_model(
    layout: WarehouseLayout, config: BayeslineConfig, split_version: int
) -> str | None:
    """The model of the newest diagnosis on the version (the one the summary shows)."""
    with open_reader(layout, config) as con:
        rows = fetch_dicts(
            con,
            "SELECT model_version FROM diagnosis WHERE split_version = ? "
            f"AND slice_column = {OVERALL_COLUMN_SQL} "
            "ORDER BY computed_at DESC, model_version LIMIT 1",
            [split_version],
        )
    model_version: str | None = rows[0]["model_version"] if rows else None
    return model_version


def _sample_sql(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    split_version: int,
    columns: list[SliceColumn],
    model_version: str | None,
) -> str:
    """Train-dev, dev and train's training-distribution examples, each a sample by hash,
    with the text, the slice values, the group and payload keys and the model's prediction."""
    dataset, cap = config.dataset, config.evaluation.baseline_max_train_rows
    text = ", ".join(quote_identifier(c) for c in dataset.text_columns)
    values = "".join(f", {c.value_sql()} AS {quote_identifier(c.name)}" for c in columns)
    salt, namespace = quote_literal(config.splits.salt), quote_literal(NAMESPACE)
    draw = fields_hash_sql([salt, namespace, "example_id"])
    files = quote_literal(version_location(layout, split_version, "*.parquet"))
    prediction = "CAST(NULL AS VARCHAR)"
    joined = ""
    if model_version and layout.store.holds(predictions_path(layout, model_version, split_version)):
        path = predictions_location(layout, model_version, split_version)
        prediction, joined = (
            "p.predicted_label",
            (f"LEFT JOIN read_parquet({quote_literal(path)}) AS p USING (example_id)"),
        )
    return f"""
        WITH s AS (
            SELECT example_id, source, label, coalesce(group_key, example_id) AS group_key,
                   coalesce(dedup_key, example_id) AS dedup_key,
                   coalesce(concat_ws(' ', {text}), '') AS text {values},
                   CASE split WHEN 'train_dev' THEN 'training' WHEN 'dev' THEN 'target'
                        ELSE 'candidate' END AS role
            FROM read_parquet({files})
            WHERE split IN ('train_dev', 'dev')
               OR (split = 'train' AND distribution <> 'target')
        )
        SELECT s.*, {prediction} AS predicted_label
        FROM s {joined}
        QUALIFY row_number() OVER (PARTITION BY role ORDER BY {draw}, example_id)
              <= CASE role WHEN 'candidate' THEN {int(cap)} ELSE {max(1, int(cap) // 2)} END
        ORDER BY role, example_id
    """


def _classify(
    fit_rows: pa.Table, columns: list[SliceColumn], config: BayeslineConfig, split_version: int
) -> tuple[DomainFit, ShiftEstimates, bool]:
    """The domain classifier on train-dev against dev, its estimates, and whether the model's
    errors were known on both sides."""
    is_target = np.asarray(fit_rows.column("role").to_pylist(), dtype=object) == "target"
    folds, components = component_folds(
        config.splits.salt,
        fit_rows.column("group_key").to_pylist(),
        fit_rows.column("dedup_key").to_pylist(),
    )
    try:
        domain = fit_domain_classifier(_examples(fit_rows, columns), is_target, folds)
    except ValueError as exc:  # e.g. no word in two examples: min_df leaves no vocabulary
        raise DistributionShiftError(
            f"the domain classifier could not be fitted on v{split_version}: {exc}"
        ) from exc
    errors = _errors(fit_rows)
    estimates = estimate_shift(domain.out_of_fold, is_target, components, errors, folds)
    known = ~np.isnan(errors)
    return domain, estimates, bool((known & is_target).any() and (known & ~is_target).any())


def _refuse_too_few(roles: npt.NDArray[np.object_], split_version: int) -> npt.NDArray[np.bool_]:
    """Which rows the classifier is fitted on (train-dev and dev), if there are enough."""
    training, target = roles == "training", roles == "target"
    if training.sum() < MIN_PER_SIDE or target.sum() < MIN_PER_SIDE:
        raise DistributionShiftError(
            f"v{split_version} has {int(training.sum())} train-dev and {int(target.sum())} dev "
            f"examples: the domain classifier needs {MIN_PER_SIDE} of each; land more data"
        )
    fitted: npt.NDArray[np.bool_] = training | target
    return fitted


def _take(table: pa.Table, mask: npt.NDArray[np.bool_]) -> pa.Table:
    return table.filter(pa.array(mask))


def _examples(table: pa.Table, columns: list[SliceColumn]) -> Examples:
    return Examples(
        table.column("text").to_pylist(),
        [table.column(c.name).to_pylist() for c in columns],
        [c.name for c in columns],
    )


def _errors(table: pa.Table) -> npt.NDArray[np.float64]:
    """1 for a wrong prediction, 0 for a right one, NaN where the model predicted nothing."""
    predicted = table.column("predicted_label").to_pylist()
    labels = table.column("label").to_pylist()
    return np.array(
        [np.nan if p is None else float(p != y) for p, y in zip(predicted, labels, strict=True)]
    )


def _summary(
    split_version: int, model_version: str | None, estimates: ShiftEstimates, shifted: int
) -> ShiftRow:
    e = estimates
    row: ShiftRow = {
        "split_version": split_version,
        "model_version": model_version,
        "n_training": e.n_training,
        "n_target": e.n_target,
        "folds": FOLDS,
        "auc": e.auc.value,
        "auc_low": e.auc.low,
        "auc_high": e.auc.high,
        "shift_detected": e.shift_detected,
        "columns_shifted": shifted,
        "max_weight": MAX_WEIGHT,
        "clipped_share": e.clipped_share,
    }
    if model_version is None:  # no errors to split: the shift alone
        return row | dict.fromkeys(
            (c for c in DISTRIBUTION_SHIFT_COLUMNS if c not in row and c != "verdict"), None
        )
    row |= {
        "train_dev_error": e.train_dev_error,
        "dev_error": e.dev_error,
        "effective_sample_size": e.effective_sample_size,
        "weighted_train_dev_error": e.weighted.value,
        "weighted_low": e.weighted.low,
        "weighted_high": e.weighted.high,
    }
    for name in ("gap", "explained", "residual"):
        estimate = getattr(e, name)
        row |= {name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high}
    return row


def _ranked(candidates: pa.Table, p_target: npt.NDArray[np.float64]) -> list[TargetLikeExample]:
    """Train's training-distribution examples, most target-like first (ties by id)."""
    ids = candidates.column("example_id").to_pylist()
    sources = candidates.column("source").to_pylist()
    weights, _ = importance_weights(p_target)
    order = sorted(range(len(ids)), key=lambda i: (-p_target[i], ids[i]))
    return [
        TargetLikeExample(
            rank=rank,
            example_id=ids[i],
            source=sources[i],
            target_probability=float(p_target[i]),
            importance_weight=float(weights[i]),
        )
        for rank, i in enumerate(order, start=1)
    ]


def _pp(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f} pp".replace("-", MINUS)
