"""Train error: the error on the examples a model was fit on, from train-dev's distribution.

Two things make "error on the train split" the wrong number for the diagnosis:

- A model may be fit on part of train only: the built-in baseline on at most
  `baseline_max_train_rows` examples (a sample by md5 of the id), a team's model on whatever it
  chose. Error on the train examples it never saw is held-out error, so it would overstate
  avoidable bias and hide variance. Train error is therefore measured on the fitted examples
  when the predictions say which they are (`in_training_set`); when they do not, on every
  predicted train example, and the diagnosis says that this assumes the model saw them all.
- Train holds target-distribution examples too (as Ng advises), while train-dev holds
  training-distribution examples only. Variance is train-dev minus train and must compare like
  with like, so train error is measured on the fitted examples of the training distribution;
  the fitted target examples are measured apart (target-in-train error, shown for context, used
  for no gap). When train has no fitted training-distribution example (a dataset whose sources
  are all target), train error falls back to every fitted example, and says so.

Split assignment is untouched: this only chooses which train predictions measure train error.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from evaluation.baseline import is_baseline_model
from evaluation.diagnosis import ErrorRate
from evaluation.predictions import predictions_location
from evaluation.slices import slice_grouping
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_literal
from warehouse.layout import WarehouseLayout
from warehouse.schema import PREDICTION_COLUMNS
from warehouse.slice_bins import slice_columns_of_version
from warehouse.splits import version_location
from warehouse.storage import lake_table_sql

SliceKey = tuple[str, str]


@dataclass(frozen=True)
class TrainCounts:
    """One slice's train predictions, split by what the model saw and by distribution."""

    predicted: int  # train examples with a prediction
    marked: bool  # the predictions say which train examples the model was fit on
    fitted: int  # of those predicted, fit on (all of them when not marked)
    training_n: int  # fitted examples of the training distribution
    training_errors: int
    target_n: int  # fitted examples of the target distribution
    target_errors: int


@dataclass(frozen=True)
class TrainMeasure:
    """Train error on one slice, the target-in-train error beside it, and how they were chosen."""

    error: ErrorRate | None  # None: the model was fit on none of the predicted examples
    # Fitted target examples; None when there are none, or when they are the train error
    # itself (train held no fitted training-distribution example).
    target_in_train: ErrorRate | None
    measured_on: str  # one sentence: on which examples, chosen how
    assumed: bool  # no record of what the model saw: every train example is assumed seen


def measure_train_error(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    model_version: str,
    split_version: int,
) -> dict[SliceKey, TrainMeasure]:
    """Train error per slice (and overall) of a registered model version, by the rule above.

    Empty when the model has no train predictions.
    """
    counts = train_counts(con, layout, config, model_version, split_version)
    who = _who(model_version, split_version)
    return {key: train_measure(c, who) for key, c in counts.items()}


def train_counts(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    model_version: str,
    split_version: int,
) -> dict[SliceKey, TrainCounts]:
    """Counts per slice over this model's train predictions, in one DuckDB pass."""
    predictions = lake_table_sql(
        [predictions_location(layout, model_version, split_version)], PREDICTION_COLUMNS
    )
    version_dir = version_location(layout, split_version)
    train = quote_literal(version_location(layout, split_version, "train.parquet"))
    columns = slice_columns_of_version(con, config, split_version, version_dir)
    grouping = slice_grouping(config, "s", columns)
    # Not marked (NULL) counts as fitted: without a record every train example is assumed seen.
    seen = "coalesce(p.in_training_set, true)"
    rows = con.execute(
        f"""
        WITH joined AS (
            SELECT s.split, {seen} AS seen, s.distribution = 'target' AS is_target,
                   p.predicted_label <> s.label AS is_error,
                   p.in_training_set IS NOT NULL AS marked {grouping.values}
            FROM read_parquet({train}) AS s JOIN {predictions} AS p USING (example_id)
        )
        SELECT {grouping.column}, {grouping.value}, count(*), bool_or(marked),
               count_if(seen), count_if(seen AND NOT is_target),
               count_if(seen AND NOT is_target AND is_error), count_if(seen AND is_target),
               count_if(seen AND is_target AND is_error)
        FROM joined
        GROUP BY {grouping.sets}
        """
    ).fetchall()
    return {(column, value): TrainCounts(*numbers) for column, value, *numbers in rows}


def train_measure(counts: TrainCounts, who: str) -> TrainMeasure:
    """The rule of the module docstring applied to one slice's counts; `who` names the model
    ("the baseline" or "the model")."""
    c = counts
    if c.fitted == 0:
        return TrainMeasure(None, None, _none_fitted(c), assumed=False)
    pool = _pool(c, who)
    if not c.training_n:
        error = _rate(c.target_errors, c.target_n)
        return TrainMeasure(error, None, _suffixed(c, f"{pool}; {NO_TRAINING}"), not c.marked)
    error, target = _rate(c.training_errors, c.training_n), _rate(c.target_errors, c.target_n)
    if c.target_n:
        text = (
            f"the {c.training_n:,} training-distribution examples among {pool}; the "
            f"{c.target_n:,} target examples among them are shown apart (target-in-train error)"
        )
    else:
        text = f"{pool}, all from the training distribution"
    return TrainMeasure(error, target, _suffixed(c, text), assumed=not c.marked)


NO_TRAINING = (
    "none comes from the training distribution, so train error is on target examples and "
    "cannot share train-dev's distribution"
)


def _pool(c: TrainCounts, who: str) -> str:
    """The examples the model was fit on, as 'the N ...'."""
    if not c.marked:
        return f"the {c.predicted:,} train examples predicted"
    baseline = who == BASELINE
    if c.fitted == c.predicted:
        how = "every train example" if baseline else "marked in_training_set: every train example"
    elif baseline:
        how = f"an md5 sample of {c.predicted:,} train examples"
    else:
        how = f"marked in_training_set, of {c.predicted:,} train examples predicted"
    return f"the {c.fitted:,} {who} was fit on ({how})"


def _suffixed(c: TrainCounts, text: str) -> str:
    if c.marked:
        return text
    return (
        f"{text}. This assumes the model saw every train example: its predictions do not say "
        "which it was fit on (an in_training_set column would)"
    )


def _none_fitted(c: TrainCounts) -> str:
    return (
        f"not measured: none of the {c.predicted:,} train examples predicted is marked "
        "in_training_set = true; predict the examples the model was fit on to measure it"
    )


BASELINE = "the baseline"


def _who(model_version: str, split_version: int) -> str:
    return BASELINE if is_baseline_model(model_version, split_version) else "the model"


def _rate(errors: int, n: int) -> ErrorRate | None:
    return ErrorRate(errors / n, n) if n else None
