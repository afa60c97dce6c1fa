"""Learning curves: what more training data of the same kind would buy, slice by slice."""

import base64

import dagster as dg

from assets.ingest import WAREHOUSE_POOL
from assets.metadata import markdown_table
from assets.resources import BayeslineResource
from evaluation.learning_curves import (
    FORECAST_SUMMARY_HEADER,
    LearningCurveError,
    forecast_summary,
    measure_learning_curves,
    variance_line,
)
from evaluation.pipeline import human_levels_for
from warehouse.catalog import refresh_catalog
from warehouse.splits import published_versions


@dg.asset(
    deps=["low_performing_slices", "human_baselines"],
    group_name="evaluation",
    pool=WAREHOUSE_POOL,
    description="The baseline (or your [evaluation] training_command) retrained on nested "
    "parts of train: train, train-dev and dev error by training-set size, overall and per "
    "flagged slice, fitted power laws and the examples needed to halve variance and reach "
    "human-level error (tables learning_curves, learning_curve_forecasts).",
)
def learning_curves(
    context: dg.AssetExecutionContext, bayesline: BayeslineResource
) -> dg.MaterializeResult:
    layout, config = bayesline.layout(), bayesline.config()
    versions = published_versions(layout)
    if not versions:
        return _not_drawn(context, "no split version is published yet")
    try:
        curves = measure_learning_curves(
            layout, config, human_levels_for(layout, config, versions[-1]), versions[-1]
        )
    except LearningCurveError as exc:
        # Too little data to draw curves is no reason to fail the pipeline around them.
        return _not_drawn(context, str(exc))
    refresh_catalog(layout, config)
    line = variance_line(curves.forecasts) or "Variance: not measured (no train-dev curve)."
    context.log.info(f"{curves.model_version}: {line}")
    png = base64.b64encode(curves.chart_path.read_bytes()).decode()
    return dg.MaterializeResult(
        metadata={
            "model_version": curves.model_version,
            "split_version": curves.split_version,
            "learner": curves.learner,
            "training_sizes": ", ".join(f"{n:,}" for n in curves.sizes),
            "train_available": curves.n_train_available,
            "variance": line,
            "forecasts": markdown_table(
                FORECAST_SUMMARY_HEADER, forecast_summary(curves.forecasts)
            ),
            "chart": dg.MetadataValue.md(f"![learning curves](data:image/png;base64,{png})"),
            "chart_path": dg.MetadataValue.path(str(curves.chart_path)),
            "skipped_sizes": "; ".join(curves.skipped) or "none",
        }
    )


def _not_drawn(context: dg.AssetExecutionContext, why: str) -> dg.MaterializeResult:
    context.log.warning(f"learning curves not drawn: {why}")
    return dg.MaterializeResult(metadata={"not_drawn": why})
