"""Evaluate one model version on one split version: slice metrics, low-performing slices, the
diagnosis table and its chart, and the HTML report. Plain functions; assets call them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from deployment.errors import BayeslineError
from evaluation.baseline import baseline_payload, is_baseline_model
from evaluation.calibration import calibration_rows
from evaluation.champion import current_champion
from evaluation.charts import error_by_stage_chart, reliability_chart
from evaluation.comparison import ModelRef, sort_rows
from evaluation.diagnosis import Diagnosis, MaterialityRule
from evaluation.diagnosis_table import (
    DiagnosisRow,
    HumanLevels,
    diagnose_slices,
    human_levels_from_diagnosis,
    warehouse_human_levels,
)
from evaluation.distribution_shift import stored_distribution_shift
from evaluation.predictions import list_model_versions, safe_model_version
from evaluation.report import render_report, write_report
from evaluation.slices import (
    SliceMetricsTable,
    compute_slice_metrics,
    find_low_performing_slices,
    write_evaluation_tables,
)
from evaluation.thumbnails import worst_slice_thumbnails
from evaluation.train_error import measure_train_error
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.config import BayeslineConfig, compute_engine
from warehouse.lake_tables import CALIBRATION, DIAGNOSIS
from warehouse.layout import WarehouseLayout
from warehouse.schema import CALIBRATION_COLUMNS, DIAGNOSIS_COLUMNS
from warehouse.slice_bins import slice_columns_of_version
from warehouse.slice_names import OVERALL
from warehouse.splits import published_versions, version_location
from warehouse.storage import (
    copy_to_lake,
    create_rows_table,
    write_bytes_atomically,
    writer_connection,
    writer_lock,
)

#: A row read from a lake table, column -> value (the columns in warehouse/schema.py).
Row = dict[str, Any]


class NoEvaluatedModelError(BayeslineError, LookupError):
    """No model version has a diagnosis (for the given model or split version)."""


@dataclass(frozen=True)
class ModelEvaluation:
    model_version: str
    split_version: int
    slice_metrics: list[Row]  # SLICE_METRIC_COLUMNS rows
    low_performing: list[Row]  # LOW_PERFORMING_SLICE_COLUMNS rows
    diagnosis_rows: list[DiagnosisRow]
    overall: Diagnosis
    chart_path: Path
    calibration: list[Row] = field(default_factory=list)  # CALIBRATION_COLUMNS rows
    reliability_path: Path | None = None  # the reliability chart, when probabilities exist


def _file_stem(model_version: str, split_version: int) -> str:
    return f"{safe_model_version(model_version)}__v{split_version:04d}"


def human_levels_for(
    layout: WarehouseLayout, config: BayeslineConfig, split_version: int
) -> HumanLevels:
    """Human-level error per slice of a split version: Label Studio's baselines, else the
    configured value (the one place it is assembled; warehouse_human_levels)."""
    with open_reader(layout, config) as con:
        return warehouse_human_levels(con, config.evaluation.human_level_error, split_version)


def analyse_slices(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    model_version: str,
    split_version: int,
    human_levels: HumanLevels | None = None,
) -> tuple[list[Row], list[Row]]:
    """Store slice metrics and low-performing slices; return both as rows."""
    # Only slice-level human baselines can excuse a slice; the overall figure knows no slices.
    per_slice_human = {k: h.rate for k, h in (human_levels or {}).items() if k != OVERALL}
    with writer_connection(layout) as con:
        metrics_table = _count_slices(con, layout, config, model_version, split_version)
        low_table = find_low_performing_slices(con, config, metrics_table, per_slice_human)
        write_evaluation_tables(con, layout, low_table)
        metrics = fetch_dicts(con, f"SELECT * FROM {metrics_table.name}")
        low = fetch_dicts(con, f"SELECT * FROM {low_table.name} ORDER BY rank")
    return metrics, low


def _count_slices(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    model_version: str,
    split_version: int,
) -> SliceMetricsTable:
    """Slice metrics on the engine BAYESLINE_ENGINE names (the result is the same)."""
    if compute_engine() == "spark":
        # Imported here: pyspark is an optional extra.
        from evaluation.spark_slices import compute_slice_metrics_on_spark
        from warehouse.spark_session import spark_session

        spark = spark_session(layout.scratch)
        return compute_slice_metrics_on_spark(
            con, spark, config, model_version, split_version, layout
        )
    return compute_slice_metrics(con, config, model_version, split_version, layout=layout)


def diagnose_model_version(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    model_version: str,
    split_version: int,
    human_levels: HumanLevels | None = None,
    now: datetime | None = None,
) -> ModelEvaluation:
    """Store the diagnosis table and chart of a model version whose slices are analysed.

    `human_levels` defaults to the warehouse's (human_levels_for).
    """
    with open_reader(layout, config) as con:
        if human_levels is None:
            human_levels = warehouse_human_levels(
                con, config.evaluation.human_level_error, split_version
            )
        params = [model_version, split_version]
        where = "WHERE model_version = ? AND split_version = ?"
        metrics = fetch_dicts(con, f"SELECT * FROM slice_metrics {where}", params)
        low = fetch_dicts(con, f"SELECT * FROM low_performing_slices {where} ORDER BY rank", params)
        train = measure_train_error(con, layout, config, model_version, split_version)
    rows, overall = diagnose_slices(
        metrics,
        human_levels,
        model_version=model_version,
        split_version=split_version,
        computed_at=(now or datetime.now(UTC)).replace(tzinfo=None),
        rule=MaterialityRule.from_config(config.evaluation),
        train_measures=train,
    )
    stem = _file_stem(model_version, split_version)
    name = f"{model_version} on split v{split_version}"
    # The charts first: a diagnosis row in the lake then always has its charts beside it.
    chart_path = layout.reports_dir / f"{stem}-error-by-stage.png"
    write_bytes_atomically(chart_path, error_by_stage_chart(rows, f"Error by stage: {name}"))
    with writer_lock(layout), writer_connection(layout) as con:
        calibration = calibration_rows(con, layout, model_version, split_version)
        reliability_path = None
        if calibration:
            reliability_path = layout.reports_dir / f"{stem}-reliability.png"
            write_bytes_atomically(
                reliability_path, reliability_chart(calibration, f"Calibration: {name}")
            )
            create_rows_table(con, "calibration_rows", CALIBRATION_COLUMNS, calibration)
            copy_to_lake(
                con,
                layout,
                "SELECT * FROM calibration_rows",
                layout.table_dir(CALIBRATION) / f"{stem}.parquet",
            )
        create_rows_table(con, "diagnosis_rows", DIAGNOSIS_COLUMNS, rows)
        copy_to_lake(
            con,
            layout,
            "SELECT * FROM diagnosis_rows",
            layout.table_dir(DIAGNOSIS) / f"{stem}.parquet",
        )
    return ModelEvaluation(
        model_version,
        split_version,
        metrics,
        low,
        rows,
        overall,
        chart_path,
        calibration,
        reliability_path,
    )


def check_slice_columns(layout: WarehouseLayout, config: BayeslineConfig) -> None:
    """Refuse, before any model is evaluated, a slice column the newest split version cannot
    be sliced by (SliceColumnError, saying what to change): it is the config's problem, the
    same for every model, not one model's failure."""
    versions = published_versions(layout)
    if versions:
        with duckdb.connect() as con:
            layout.store.register(con)
            newest = version_location(layout, versions[-1])
            slice_columns_of_version(con, config, versions[-1], newest)


def model_versions_to_evaluate(layout: WarehouseLayout) -> list[tuple[str, int]]:
    """Registered model versions on the newest split version."""
    versions = published_versions(layout)
    if not versions:
        return []
    return [(m, v) for m, v in list_model_versions(layout) if v == versions[-1]]


def waiting_for_predictions(layout: WarehouseLayout) -> str | None:
    """What evaluation waits for when no model has predicted the newest split version."""
    versions = published_versions(layout)
    if not versions or model_versions_to_evaluate(layout):
        return None
    return (
        f"waiting for predictions on split v{versions[-1]}: register them with "
        "`bayesline predictions add`"
    )


def write_model_report(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    model_version: str | None = None,
    split_version: int | None = None,
    output: Path | None = None,
) -> Path:
    """Render the self-contained HTML report of one evaluated model version."""
    with open_reader(layout, config) as con:
        model_version, split_version = _pick_evaluated(con, model_version, split_version)
        params = [model_version, split_version]
        where = "WHERE model_version = ? AND split_version = ?"
        diagnosis = fetch_dicts(con, f"SELECT * FROM diagnosis {where}", params)
        low = fetch_dicts(con, f"SELECT * FROM low_performing_slices {where} ORDER BY rank", params)
        metrics = fetch_dicts(con, f"SELECT * FROM slice_metrics {where}", params)
        calibration = fetch_dicts(con, f"SELECT * FROM calibration {where}", params)
        versus = _versus_champion(con, layout, config, model_version, split_version)
        train = measure_train_error(con, layout, config, model_version, split_version)
        curves = _learning_curves_of(con, split_version)
        shift = stored_distribution_shift(con, split_version)
    _, overall = diagnose_slices(
        metrics,
        human_levels_from_diagnosis(diagnosis),
        model_version=model_version,
        split_version=split_version,
        computed_at=diagnosis[0]["computed_at"],
        rule=MaterialityRule.from_config(config.evaluation),
        train_measures=train,
    )
    html_text = render_report(
        title=f"Bayesline diagnosis: {config.dataset.name}",
        model_version=model_version,
        split_version=split_version,
        diagnosis_rows=diagnosis,
        low_performing_rows=low,
        slice_metric_rows=metrics,
        overall=overall,
        generated_at=datetime.now(UTC).replace(tzinfo=None),
        calibration_rows=calibration,
        versus_champion=versus,
        min_slice_size=config.evaluation.min_slice_size,
        learning_curves=curves,
        distribution_shift=shift,
        model_note=_baseline_note(config, model_version, split_version),
        worst_slice_images=worst_slice_thumbnails(layout, config, model_version, split_version),
    )
    path = output or layout.reports_dir / f"{_file_stem(model_version, split_version)}.html"
    return write_report(html_text, path)


def _baseline_note(config: BayeslineConfig, model_version: str, split_version: int) -> str | None:
    payload = baseline_payload(config)
    if payload is None or not is_baseline_model(model_version, split_version):
        return None
    return f"The built-in baseline, reading {payload.describe()}."


def _versus_champion(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    model_version: str,
    split_version: int,
) -> tuple[Row, list[Row]] | None:
    """The latest stored comparison of this model with the champion: (summary, rows)."""
    champion = current_champion(layout, config)
    if champion is None or champion == ModelRef(model_version, split_version):
        return None
    pair = "model_a = ? AND split_version_a = ? AND model_b = ? AND split_version_b = ?"
    params = [champion.model_version, champion.split_version, model_version, split_version]
    summary = fetch_dicts(
        con,
        f"SELECT * FROM model_comparison_summaries WHERE {pair} ORDER BY computed_at DESC LIMIT 1",
        params,
    )
    if not summary:
        return None
    rows = fetch_dicts(
        con,
        f"SELECT * FROM model_comparisons WHERE {pair} AND computed_at = ?",
        [*params, summary[0]["computed_at"]],
    )
    return summary[0], sort_rows(rows)


def _learning_curves_of(
    con: duckdb.DuckDBPyConnection, split_version: int
) -> tuple[list[Row], list[Row]]:
    """The newest learning curves on a split version: (points, forecasts). They describe the
    data and the learner, so every model's report on that version shows them."""
    newest = (
        "SELECT model_version, computed_at FROM learning_curve_forecasts "
        "WHERE split_version = ? ORDER BY computed_at DESC LIMIT 1"
    )
    found = con.execute(newest, [split_version]).fetchone()
    if found is None:
        return [], []
    where = "WHERE split_version = ? AND model_version = ? AND computed_at = ?"
    params = [split_version, *found]
    return (
        fetch_dicts(con, f"SELECT * FROM learning_curves {where}", params),
        fetch_dicts(con, f"SELECT * FROM learning_curve_forecasts {where}", params),
    )


def _pick_evaluated(
    con: duckdb.DuckDBPyConnection, model_version: str | None, split_version: int | None
) -> tuple[str, int]:
    conditions: list[str] = []
    params: list[str | int] = []
    if model_version:
        conditions.append("model_version = ?")
        params.append(model_version)
    if split_version is not None:
        conditions.append("split_version = ?")
        params.append(split_version)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    found = con.execute(
        f"SELECT model_version, split_version FROM diagnosis {where} "
        "ORDER BY split_version DESC, computed_at DESC LIMIT 1",
        params,
    ).fetchone()
    if found is None:
        raise NoEvaluatedModelError(
            "no evaluated model version matches: run `bayesline materialize` (the baseline "
            "model and the diagnosis assets), or register predictions with `bayesline "
            "predictions add`"
        )
    return found[0], int(found[1])
