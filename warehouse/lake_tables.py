"""The registry of the lake's tables: for each table stored as `<folder>/*.parquet`, its SQL
view, its folder under the lake's root, its columns and how its view reads it.

The catalog builds one view per table from here, WarehouseLayout.table_dir says where its
files go, and the writers name a table rather than spelling its folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from deployment.errors import BayeslineError
from warehouse.schema import (
    BATCH_DECISION_COLUMNS,
    CALIBRATION_COLUMNS,
    CHAMPION_COLUMNS,
    DIAGNOSIS_COLUMNS,
    DISTRIBUTION_SHIFT_COLUMNS,
    EVALUATION_STATUS_COLUMNS,
    HUMAN_ANNOTATION_COLUMNS,
    HUMAN_BASELINE_COLUMNS,
    INGESTED_FILE_COLUMNS,
    LABEL_CORRECTION_COLUMNS,
    LABEL_REVIEW_COLUMNS,
    LABELING_QUEUE_COLUMNS,
    LEARNING_CURVE_COLUMNS,
    LEARNING_CURVE_FORECAST_COLUMNS,
    LOW_PERFORMING_SLICE_COLUMNS,
    MODEL_COMPARISON_COLUMNS,
    MODEL_COMPARISON_SUMMARY_COLUMNS,
    PREDICTION_COLUMNS,
    REJECTED_ROW_COLUMNS,
    SHIFT_FEATURE_COLUMNS,
    SLICE_METRIC_COLUMNS,
    SLICE_SHIFT_COLUMNS,
    TARGET_LIKE_EXAMPLE_COLUMNS,
)

#: Lake folders whose views are computed rather than read whole (warehouse/revisions, splits).
EXAMPLES_FOLDER = "examples"
SPLITS_FOLDER = "splits"
#: The parent folders of the evaluation and labeling tables.
EVALUATION_FOLDER = "evaluation"
LABELING_FOLDER = "labeling"


@dataclass(frozen=True)
class LakeTable:
    """One table of the lake: the view `view` reads `<lake>/<folder>/*.parquet`."""

    view: str
    #: Under the lake's root, "/"-separated.
    folder: str
    #: Column name -> DuckDB type; a file written before a column existed reads it as NULL.
    columns: Mapping[str, str] = field(compare=False, repr=False)
    order_by: str | None = None
    #: (key, newest): the view keeps only the newest row per key, for tables that append.
    latest_by: tuple[str, str] | None = None


REJECTED_ROWS = LakeTable("rejected_rows", "rejected_rows", REJECTED_ROW_COLUMNS)
INGESTED_FILES = LakeTable("ingested_files", "ingested_files", INGESTED_FILE_COLUMNS)
BATCH_DECISIONS = LakeTable(
    "batch_decisions", "batch_decisions", BATCH_DECISION_COLUMNS, order_by="decided_at, file_id"
)

PREDICTIONS = LakeTable("predictions", "predictions", PREDICTION_COLUMNS)


def _evaluation(view: str, columns: Mapping[str, str]) -> LakeTable:
    return LakeTable(view, f"{EVALUATION_FOLDER}/{view}", columns)


SLICE_METRICS = _evaluation("slice_metrics", SLICE_METRIC_COLUMNS)
LOW_PERFORMING_SLICES = _evaluation("low_performing_slices", LOW_PERFORMING_SLICE_COLUMNS)
DIAGNOSIS = _evaluation("diagnosis", DIAGNOSIS_COLUMNS)
EVALUATION_STATUS = _evaluation("evaluation_status", EVALUATION_STATUS_COLUMNS)
CALIBRATION = _evaluation("calibration", CALIBRATION_COLUMNS)
LEARNING_CURVES = _evaluation("learning_curves", LEARNING_CURVE_COLUMNS)
LEARNING_CURVE_FORECASTS = _evaluation("learning_curve_forecasts", LEARNING_CURVE_FORECAST_COLUMNS)
SLICE_SHIFT = _evaluation("slice_shift", SLICE_SHIFT_COLUMNS)
DISTRIBUTION_SHIFT = _evaluation("distribution_shift", DISTRIBUTION_SHIFT_COLUMNS)
SHIFT_FEATURES = _evaluation("shift_features", SHIFT_FEATURE_COLUMNS)
TARGET_LIKE_EXAMPLES = _evaluation("target_like_examples", TARGET_LIKE_EXAMPLE_COLUMNS)
MODEL_COMPARISONS = _evaluation("model_comparisons", MODEL_COMPARISON_COLUMNS)
MODEL_COMPARISON_SUMMARIES = _evaluation(
    "model_comparison_summaries", MODEL_COMPARISON_SUMMARY_COLUMNS
)
CHAMPIONS = _evaluation("champions", CHAMPION_COLUMNS)

LABELING_QUEUE = LakeTable("labeling_queue", f"{LABELING_FOLDER}/queue", LABELING_QUEUE_COLUMNS)
# Sync appends batches; an annotation edited in Label Studio appears again, newer.
HUMAN_ANNOTATIONS = LakeTable(
    "human_annotations",
    f"{LABELING_FOLDER}/annotations",
    HUMAN_ANNOTATION_COLUMNS,
    latest_by=("annotation_id", "updated_at"),
)
HUMAN_BASELINES = LakeTable(
    "human_baselines", f"{LABELING_FOLDER}/baselines", HUMAN_BASELINE_COLUMNS
)
LABEL_REVIEW = LakeTable("label_review", f"{LABELING_FOLDER}/review", LABEL_REVIEW_COLUMNS)
LABEL_CORRECTIONS = LakeTable(
    "label_corrections", f"{LABELING_FOLDER}/corrections", LABEL_CORRECTION_COLUMNS
)

INGEST_TABLES = (REJECTED_ROWS, INGESTED_FILES, BATCH_DECISIONS)
EVALUATION_TABLES = (
    PREDICTIONS,
    SLICE_METRICS,
    LOW_PERFORMING_SLICES,
    DIAGNOSIS,
    EVALUATION_STATUS,
    CALIBRATION,
    LEARNING_CURVES,
    LEARNING_CURVE_FORECASTS,
    SLICE_SHIFT,
    DISTRIBUTION_SHIFT,
    SHIFT_FEATURES,
    TARGET_LIKE_EXAMPLES,
    MODEL_COMPARISONS,
    MODEL_COMPARISON_SUMMARIES,
    CHAMPIONS,
)
LABELING_TABLES = (
    LABELING_QUEUE,
    HUMAN_ANNOTATIONS,
    HUMAN_BASELINES,
    LABEL_REVIEW,
    LABEL_CORRECTIONS,
)
#: Every table the lake stores as `<folder>/*.parquet`, each with its own view.
LAKE_TABLES = (*INGEST_TABLES, *EVALUATION_TABLES, *LABELING_TABLES)

_BY_VIEW = {table.view: table for table in LAKE_TABLES}


class UnknownLakeTableError(BayeslineError, KeyError):
    """No lake table has this view name."""


def lake_table(view: str) -> LakeTable:
    """The lake table whose view is `view`."""
    try:
        return _BY_VIEW[view]
    except KeyError:
        raise UnknownLakeTableError(f"no lake table has the view {view!r}") from None
