"""Predictions, slice error analysis and the bias / variance / mismatch diagnosis."""

import base64

import dagster as dg

from assets.ingest import WAREHOUSE_POOL
from assets.metadata import markdown_table
from assets.resources import BayeslineResource
from evaluation.baseline import train_baseline
from evaluation.pipeline import ModelEvaluation, evaluate_model_version, model_versions_to_evaluate
from evaluation.predictions import register_landed_predictions
from warehouse.catalog import refresh_catalog
from warehouse.config import SPLITS

STAGE_COLUMNS = ("human_level", "train", "train_dev", "dev", "test")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


@dg.asset(
    deps=["published_splits"],
    group_name="evaluation",
    pool=WAREHOUSE_POOL,
    description="Built-in TF-IDF + logistic regression baseline trained on train of the newest "
    "split version, predicting every split (so the loop works out of the box).",
)
def baseline_predictions(
    context: dg.AssetExecutionContext, bayesline: BayeslineResource
) -> dg.MaterializeResult:
    layout, config = bayesline.layout(), bayesline.config()
    result = train_baseline(layout, config)
    refresh_catalog(layout, config)
    if result.summary:
        context.log.info(result.summary.message)
    return dg.MaterializeResult(
        metadata={
            "model_version": result.model_version,
            "split_version": result.split_version,
            "n_train": result.n_train,
            "accuracy": markdown_table(
                ["split", "accuracy"], [(s, _pct(result.accuracy.get(s))) for s in SPLITS]
            ),
        }
    )


@dg.asset(
    group_name="evaluation",
    pool=WAREHOUSE_POOL,
    description="Predictions files dropped in landing/_predictions/ by your own models.",
)
def landed_predictions(
    context: dg.AssetExecutionContext, bayesline: BayeslineResource
) -> dg.MaterializeResult:
    layout, config = bayesline.layout(), bayesline.config()
    results = register_landed_predictions(layout, config)
    refresh_catalog(layout, config)
    for summary in results:
        (context.log.warning if summary.error else context.log.info)(summary.message)
    return dg.MaterializeResult(
        metadata={
            "registered": sum(1 for r in results if r.error is None),
            "refused": sum(1 for r in results if r.error),
            "files": markdown_table(["result"], [(r.message,) for r in results]),
        }
    )


@dg.asset(
    deps=["baseline_predictions", "landed_predictions"],
    group_name="evaluation",
    pool=WAREHOUSE_POOL,
    description="Error per split and slice with Wilson intervals, the dev slices significantly "
    "worse than overall, and the diagnosis (tables slice_metrics, low_performing_slices, "
    "diagnosis).",
)
def diagnosis(context: dg.AssetExecutionContext, bayesline: BayeslineResource):
    layout, config = bayesline.layout(), bayesline.config()
    pairs = model_versions_to_evaluate(layout)
    evaluations = [evaluate_model_version(layout, config, m, v) for m, v in pairs]
    refresh_catalog(layout, config)
    for evaluation in evaluations:
        context.log.info(
            f"{evaluation.model_version}: {len(evaluation.low_performing)} low-performing "
            f"slice(s); work on: {', '.join(evaluation.overall.problems) or 'nothing material'}"
        )
    metadata = {"model_versions": len(evaluations)}
    if evaluations:
        metadata.update(_evaluation_metadata(evaluations[-1]))
    return dg.MaterializeResult(metadata=metadata)


def _evaluation_metadata(evaluation: ModelEvaluation) -> dict:
    overall = evaluation.overall
    stage_rows = [
        (
            row["slice_column"] + " = " + row["slice_value"],
            _pct(row["human_level_error"]),
            *(_pct(row.get(f"{stage}_error")) for stage in STAGE_COLUMNS[1:]),
            row["problems"] or "—",
        )
        for row in evaluation.diagnosis_rows[:13]
    ]
    chart = base64.b64encode(evaluation.chart_path.read_bytes()).decode()
    return {
        "model_version": evaluation.model_version,
        "split_version": evaluation.split_version,
        "work_on": ", ".join(overall.problems) if overall else "",
        "human_level_source": overall.human_level_source if overall else "",
        "diagnosis": markdown_table(
            ["slice", "human", "train", "train-dev", "dev", "test", "problems"], stage_rows
        ),
        "low_performing_slices": markdown_table(
            ["rank", "slice", "n", "dev error", "gap", "errors removable", "p (Holm)"],
            [
                (
                    r["rank"],
                    f"{r['slice_column']} = {r['slice_value']}",
                    r["n"],
                    _pct(r["error_rate"]),
                    _pct(r["gap"]),
                    f"{r['errors_removable']:.1f}",
                    f"{r['p_adjusted']:.2g}",
                )
                for r in evaluation.low_performing[:10]
            ],
        ),
        "chart": dg.MetadataValue.md(f"![error by stage](data:image/png;base64,{chart})"),
        "chart_path": dg.MetadataValue.path(str(evaluation.chart_path)),
    }
