"""Learning curves: retrain a model on nested, hash-selected parts of train and measure train,
train-dev and dev error at each size, overall and on every flagged slice.

- The parts are prefixes of one fixed order of train's groups, sha256 of (salt, a namespace,
  group key): each smaller set is a subset of the larger, a group (user, patient...) is never
  cut, and the order is the same in any engine. The namespace keeps the order independent of
  the split buckets, which use sha256 of (salt, key) and would otherwise put the target part of
  train only in the largest sets.
- The largest set is bounded by `[evaluation] baseline_max_train_rows`, as the baseline is; so
  are train-dev and dev (the same hash order), so the cost is flat past that size.
- The fits, intervals and forecasts are in evaluation/curve_forecasts.py; this module measures,
  stores and draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from deployment.errors import BayeslineError
from evaluation.baseline import baseline_model_version
from evaluation.curve_forecasts import BoolArray, IntArray, StageOutcomes, forecast_rows, point_rows
from evaluation.diagnosis_table import HumanLevel
from evaluation.learning_curve_chart import learning_curve_chart
from evaluation.predictions import safe_model_version
from evaluation.rows_learning_curves import (
    CurveName,
    CurveStage,
    LearningCurveForecast,
    LearningCurvePoint,
    LearningCurveRun,
)
from evaluation.rows_stored import StoredRow
from evaluation.training_hook import Learner, learner_for
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.config import BayeslineConfig
from warehouse.hashing import fields_hash_sql, quote_identifier, quote_literal
from warehouse.layout import WarehouseLayout
from warehouse.schema import LEARNING_CURVE_COLUMNS, LEARNING_CURVE_FORECAST_COLUMNS
from warehouse.slice_bins import SliceColumn, slice_columns_of_version
from warehouse.slice_names import OVERALL, PAIR_SEPARATOR, SliceKey
from warehouse.splits import published_versions, version_location
from warehouse.sql_results import fetch_count
from warehouse.storage import (
    store_evaluation_rows,
    write_bytes_atomically,
    writer_connection,
)

#: Shares of the (capped) train split each model is trained on; doubling steps spread the
#: points evenly on the log axis the power law is straight on.
FRACTIONS = (0.05, 0.1, 0.2, 0.4, 0.7, 1.0)
MIN_SIZES = 4  # three parameters need more points than that to leave a residual
ORDER_NAMESPACE = "learning-curves"
STAGES: tuple[CurveStage, ...] = ("train", "train_dev", "dev")
COMMAND_MODEL = "training-command"


class LearningCurveError(BayeslineError, ValueError):
    """Learning curves cannot be drawn; the message says why and what to do."""


@dataclass(frozen=True)
class LearningCurves:
    model_version: str
    split_version: int
    learner: str
    sizes: list[int]
    n_train_available: int
    points: list[LearningCurvePoint]
    forecasts: list[LearningCurveForecast]
    chart_path: Path
    skipped: list[str] = field(default_factory=list)  # sizes no model could be trained on

    def forecast(
        self, curve: CurveName, slice_key: SliceKey = OVERALL
    ) -> LearningCurveForecast | None:
        for row in self.forecasts:
            if row["curve"] == curve and (row["slice_column"], row["slice_value"]) == slice_key:
                return row
        return None


def measure_learning_curves(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    human_levels: Mapping[SliceKey, HumanLevel],
    split_version: int | None = None,
    now: datetime | None = None,
) -> LearningCurves:
    """Train at every size, measure, fit, forecast, and store the tables and the chart."""
    split_version = _resolve_version(layout, split_version)
    if config.evaluation.training_command is None and not config.dataset.text_columns:
        raise LearningCurveError(
            "learning curves retrain the built-in text baseline only (not the image "
            "baseline): set [evaluation] training_command in bayesline.toml to draw them for "
            "your own model"
        )
    learner_name, learner = learner_for(config, layout.scratch)
    model_version = (
        baseline_model_version(split_version)
        if config.evaluation.training_command is None
        else COMMAND_MODEL
    )
    slices = [OVERALL, *_flagged_slices(layout, config, split_version)]
    tables, n_available = load_ordered_splits(layout, config, split_version)
    sizes = _nested_sizes(tables["train"])
    tables = {split: t.drop_columns(["rows_before"]) for split, t in tables.items()}
    outcomes, trained, skipped = _train_at_sizes(tables, sizes, learner, slices, config)
    if len(trained) < MIN_SIZES:
        raise LearningCurveError(
            f"only {len(trained)} of {len(sizes)} training-set sizes of v{split_version} could "
            f"be trained ({'; '.join(skipped) or 'train is too small'}): learning curves need "
            f"{MIN_SIZES}; add training examples"
        )
    computed_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    common: LearningCurveRun = {
        "model_version": model_version,
        "split_version": split_version,
        "learner": learner_name,
        "computed_at": computed_at,
    }
    levels = {key: _human_level(human_levels, key) for key in slices}
    points = point_rows(outcomes, trained, slices, common)
    forecasts, fitted = forecast_rows(outcomes, trained, slices, levels, n_available, common)
    for row in points:
        band = fitted.get((row["slice_column"], row["slice_value"], row["stage"], row["n_train"]))
        if band is not None:
            row["fitted_error"] = band["fitted_error"]
            row["fitted_low"] = band["fitted_low"]
            row["fitted_high"] = band["fitted_high"]
    stem = f"{safe_model_version(model_version)}__v{split_version:04d}"
    chart_path = layout.reports_dir / f"{stem}-learning-curves.png"
    title = f"Learning curves: {model_version} on split v{split_version}"
    write_bytes_atomically(chart_path, learning_curve_chart(points, forecasts, title))
    store_evaluation_rows(
        layout,
        stem,
        {
            "learning_curves": (LEARNING_CURVE_COLUMNS, points),
            "learning_curve_forecasts": (
                LEARNING_CURVE_FORECAST_COLUMNS,
                forecasts,
            ),
        },
    )
    return LearningCurves(
        model_version,
        split_version,
        learner_name,
        trained,
        n_available,
        points,
        forecasts,
        chart_path,
        skipped,
    )


def variance_line(forecasts: Sequence[StoredRow]) -> str | None:
    """The diagnosis's line for variance, from the overall variance forecast."""
    for row in forecasts:
        if row["curve"] == "variance" and (row["slice_column"], row["slice_value"]) == OVERALL:
            return f"Variance: {row['verdict']}."
    return None


def forecast_summary(forecasts: Sequence[StoredRow]) -> list[tuple[str, ...]]:
    """The forecasts people read (dev and variance curves), as table cells: slice, curve,
    fitted error now, floor with its interval, target, more examples with their interval,
    verdict."""
    rows: list[tuple[str, ...]] = []
    for r in forecasts:
        if r["curve"] not in ("dev", "variance"):
            continue
        more = "—" if r["more_examples"] is None else f"{r['more_examples']:,}"
        if r["more_examples"] is not None:
            high = r["more_examples_high"]
            more += f" ({r['more_examples_low']:,} to {'∞' if high is None else f'{high:,}'})"
        rows.append(
            (
                "overall"
                if (r["slice_column"], r["slice_value"]) == OVERALL
                else f"{r['slice_column']} = {r['slice_value']}",
                "dev error" if r["curve"] == "dev" else "variance gap",
                f"{r['error_at_largest']:.1%} at {r['n_largest']:,}",
                f"{r['floor']:.1%} ({r['floor_low']:.1%} to {r['floor_high']:.1%})",
                "—" if r["target_error"] is None else f"{r['target_error']:.1%}",
                more,
                r["verdict"],
            )
        )
    return rows


FORECAST_SUMMARY_HEADER = (
    "slice",
    "curve",
    "now (fitted)",
    "floor c (95%)",
    "target",
    "more examples (95%)",
    "verdict",
)


def _resolve_version(layout: WarehouseLayout, split_version: int | None) -> int:
    versions = published_versions(layout)
    if not versions:
        raise LearningCurveError("no split version is published yet: publish splits first")
    if split_version is None:
        return versions[-1]
    if split_version not in versions:
        raise LearningCurveError(f"split version {split_version} is not published")
    return split_version


def _flagged_slices(
    layout: WarehouseLayout, config: BayeslineConfig, split_version: int
) -> list[SliceKey]:
    """Every slice flagged as a finding for any model on this split version."""
    with open_reader(layout, config) as con:
        rows = fetch_dicts(
            con,
            "SELECT slice_column, slice_value, max(errors_removable) AS removable "
            "FROM low_performing_slices WHERE split_version = ? AND parent_slice_column IS NULL "
            "GROUP BY ALL ORDER BY removable DESC, slice_column, slice_value",
            [split_version],
        )
    return [(r["slice_column"], r["slice_value"]) for r in rows]


def load_ordered_splits(
    layout: WarehouseLayout, config: BayeslineConfig, split_version: int
) -> tuple[dict[CurveStage, pa.Table], int]:
    """Train, train-dev and dev, each in the fixed group order and capped; and train's size."""
    cap = config.evaluation.baseline_max_train_rows
    with writer_connection(layout) as con:
        version_dir = version_location(layout, split_version)
        slice_columns = slice_columns_of_version(con, config, split_version, version_dir)
        tables = {
            stage: con.sql(
                _ordered_sample_sql(layout, config, split_version, stage, cap, slice_columns)
            ).to_arrow_table()
            for stage in STAGES
        }
        train_file = quote_literal(version_location(layout, split_version, "train.parquet"))
        n_train = fetch_count(con, f"SELECT count(*) FROM read_parquet({train_file})")
    return tables, n_train


def _ordered_sample_sql(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    split_version: int,
    split: str,
    cap: int,
    slice_columns: list[SliceColumn],
) -> str:
    """A split's examples in the fixed order of their groups, the whole groups that fit in
    `cap` rows (at least the first); `rows_before` counts the examples of the groups ahead."""
    dataset = config.dataset
    # Slice columns as the version slices them (a range for a binned number or date), so that
    # a flagged slice's rows are found by its value.
    columns = ", ".join(
        [quote_identifier(c) for c in dataset.payload_columns]
        + [f"{c.value_sql()} AS {quote_identifier(c.name)}" for c in slice_columns]
    )
    path = quote_literal(version_location(layout, split_version, f"{split}.parquet"))
    draw = fields_hash_sql(
        [quote_literal(config.splits.salt), quote_literal(ORDER_NAMESPACE), "group_key"]
    )
    return f"""
        WITH s AS (
            SELECT example_id, label, coalesce(group_key, example_id) AS group_key, {columns}
            FROM read_parquet({path})
        ),
        g AS (SELECT group_key, {draw} AS draw, count(*) AS n FROM s GROUP BY group_key),
        o AS (
            SELECT group_key, n,
                   sum(n) OVER (ORDER BY draw, group_key ROWS UNBOUNDED PRECEDING) - n
                       AS rows_before
            FROM g
        )
        SELECT s.*, o.rows_before FROM s JOIN o USING (group_key)
        WHERE o.rows_before + o.n <= {int(cap)} OR o.rows_before = 0
        ORDER BY o.rows_before, s.example_id
    """


def _nested_sizes(train: pa.Table) -> list[int]:
    """The number of train rows in each part: the whole groups that start before the share."""
    before = np.asarray(train.column("rows_before").to_numpy())
    sizes = [int(np.sum(before < fraction * len(before))) for fraction in FRACTIONS]
    return sorted({s for s in sizes if s > 0})


def _train_at_sizes(
    tables: Mapping[CurveStage, pa.Table],
    sizes: list[int],
    learner: Learner,
    slices: Sequence[SliceKey],
    config: BayeslineConfig,
) -> tuple[dict[CurveStage, StageOutcomes], list[int], list[str]]:
    """Train on each prefix of train and predict it, train-dev and dev: per-example outcomes,
    the sizes trained and why any size could not be."""
    train, train_dev = tables["train"], tables["train_dev"]
    eval_rows = pa.concat_tables([train_dev, tables["dev"]])
    eval_labels = np.asarray(eval_rows.column("label").to_pylist(), dtype=object)
    wrong: dict[CurveStage, list[BoolArray]] = {stage: [] for stage in STAGES}
    trained: list[int] = []
    skipped: list[str] = []
    for size in sizes:
        subset = train.slice(0, size)
        if len(set(subset.column("label").to_pylist())) < 2:
            skipped.append(f"{size:,}: one label only")
            continue
        try:  # a training command's own failure is raised: the user asked for it
            predicted = np.asarray(learner(subset, pa.concat_tables([subset, eval_rows])))
        except ValueError as exc:  # the baseline on too few words: no vocabulary left
            skipped.append(f"{size:,}: {exc}")
            continue
        labels = np.asarray(subset.column("label").to_pylist(), dtype=object)
        on_train = np.zeros(len(train), dtype=bool)
        on_train[:size] = predicted[:size] != labels
        on_eval = predicted[size:] != eval_labels
        wrong["train"].append(on_train)
        wrong["train_dev"].append(on_eval[: len(train_dev)])
        wrong["dev"].append(on_eval[len(train_dev) :])
        trained.append(size)
    outcomes = {
        stage: StageOutcomes(
            wrong=(
                np.column_stack(wrong[stage])
                if trained
                else np.zeros((len(tables[stage]), 0), dtype=bool)
            ),
            present=_present(stage, len(tables[stage]), trained),
            groups=_group_codes(tables[stage]),
            slice_masks=np.array([_slice_mask(tables[stage], key, config) for key in slices]),
        )
        for stage in STAGES
    }
    return outcomes, trained, skipped


def _present(stage: CurveStage, n_rows: int, sizes: list[int]) -> BoolArray:
    """Which rows each size is measured on: train error on the rows trained on, the other
    stages on all their rows."""
    if stage != "train":
        return np.ones((n_rows, len(sizes)), dtype=bool)
    return np.arange(n_rows)[:, None] < np.asarray(sizes)[None, :]


def _group_codes(table: pa.Table) -> IntArray:
    """An integer per group: the bootstrap resamples groups, not examples."""
    keys = table.column("group_key").to_pylist()
    inverse = np.unique(np.asarray(keys, dtype=object), return_inverse=True)[1]
    codes: IntArray = inverse.astype(np.int64)
    return codes


def _slice_mask(table: pa.Table, key: SliceKey, config: BayeslineConfig) -> BoolArray:
    """Which rows lie in a slice (a column or a pair of columns, as slice_metrics names them)."""
    if key == OVERALL:
        return np.ones(len(table), dtype=bool)
    columns, values = key[0].split(PAIR_SEPARATOR), key[1].split(PAIR_SEPARATOR)
    mask = np.ones(len(table), dtype=bool)
    for column, value in zip(columns, values, strict=True):
        if column not in config.dataset.slice_columns:
            return np.zeros(len(table), dtype=bool)
        # The SQL gave every row its slice value, (missing) included: no None to map here.
        mask &= np.asarray(table.column(column).to_pylist(), dtype=object) == value
    return mask


def _human_level(human_levels: Mapping[SliceKey, HumanLevel], key: SliceKey) -> float | None:
    """The slice's human-level error, else the overall one (as the diagnosis does)."""
    level = human_levels.get(key) or human_levels.get(OVERALL)
    return None if level is None else level.rate
