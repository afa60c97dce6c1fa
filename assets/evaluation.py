"""Predictions, slice error analysis and the bias / variance / mismatch diagnosis."""

import base64

import dagster as dg

from assets.ingest import WAREHOUSE_POOL
from assets.metadata import markdown_table, percent
from assets.resources import BayeslineResource
from evaluation.baseline import NoBaselineFits, train_baseline
from evaluation.calibration import ece_by_split
from evaluation.findings import in_reading_order, is_finding, reading_label
from evaluation.landed_predictions import register_landed_predictions
from evaluation.pipeline import (
    ModelEvaluation,
    analyse_slices,
    check_slice_columns,
    diagnose_model_version,
    human_levels_for,
    model_versions_to_evaluate,
    waiting_for_predictions,
)
from evaluation.status import ModelFailure, Step, evaluate_each, failure_summary
from evaluation.thumbnails import worst_slice_thumbnails
from warehouse.catalog import refresh_catalog
from warehouse.split_names import SPLIT_DISPLAY_NAMES, SPLITS

STAGE_COLUMNS = ("human_level", *SPLITS)


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
    try:
        result = train_baseline(layout, config)
    except NoBaselineFits as exc:
        # Not a failure: the evaluation assets downstream wait for the team's predictions.
        context.log.warning(f"baseline skipped: {exc}")
        return dg.MaterializeResult(metadata={"skipped": str(exc)})
    refresh_catalog(layout, config)
    if result.summary:
        context.log.info(result.summary.message)
    return dg.MaterializeResult(
        metadata={
            "model_version": result.model_version,
            "split_version": result.split_version,
            "payload": result.payload,
            "n_train": result.n_train,
            "n_fit": result.n_fit if result.n_fit is not None else "reused",
            "accuracy": markdown_table(
                ["split", "accuracy"], [(s, percent(result.accuracy.get(s))) for s in SPLITS]
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


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "slice_metrics",
            deps=["baseline_predictions", "landed_predictions"],
            group_name="evaluation",
            description="Error per split, overall and per slice, with 95% Wilson intervals.",
        ),
        dg.AssetSpec(
            "low_performing_slices",
            deps=["baseline_predictions", "landed_predictions"],
            group_name="evaluation",
            description="Dev slices significantly worse than overall dev (Holm-adjusted), "
            "ranked by the errors they would remove.",
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def slice_analysis(context: dg.AssetExecutionContext, bayesline: BayeslineResource):
    """Slice metrics and low-performing slices of every model on the newest split version."""
    layout, config = bayesline.layout(), bayesline.config()

    def analyse(model_version: str, split_version: int) -> list[tuple[str, dict]]:
        humans = human_levels_for(layout, config, split_version)
        _, low = analyse_slices(layout, config, model_version, split_version, humans)
        findings = sum(1 for r in low if is_finding(r))
        context.log.info(
            f"{model_version}: {findings} low-performing slice(s), "
            f"{len(low) - findings} more shown under their parent"
        )
        return [(model_version, r) for r in in_reading_order(low)]

    check_slice_columns(layout, config)
    pairs = model_versions_to_evaluate(layout)
    results, failures = evaluate_each(layout, pairs, "slice_metrics", analyse)
    flagged = [row for rows in results for row in rows]
    refresh_catalog(layout, config)
    waiting = _waiting_metadata(context, layout)
    yield dg.MaterializeResult(
        asset_key="slice_metrics", metadata=_failure_metadata(failures) | waiting
    )
    yield dg.MaterializeResult(
        asset_key="low_performing_slices",
        metadata=waiting
        | {
            "flagged": sum(1 for _, r in flagged if is_finding(r)),
            "nested_under_parent": sum(1 for _, r in flagged if not is_finding(r)),
            "slices": markdown_table(
                ["model", "rank", "slice", "n", "dev error", "errors removable"],
                [
                    (
                        model,
                        r["rank"] if is_finding(r) else "",
                        reading_label(r),
                        r["n"],
                        percent(r["error_rate"]),
                        f"{r['errors_removable']:.1f}",
                    )
                    for model, r in flagged[:20]
                ],
            ),
        },
    )
    _fail_if_any(failures, "slice_metrics")


@dg.asset(
    deps=["slice_metrics", "low_performing_slices", "human_baselines"],
    group_name="evaluation",
    pool=WAREHOUSE_POOL,
    description="Human-level, train, train-dev, dev and test error overall and per slice, and "
    "which gap to work on (table diagnosis; `bayesline report` for the HTML report).",
)
def diagnosis(context: dg.AssetExecutionContext, bayesline: BayeslineResource):
    layout, config = bayesline.layout(), bayesline.config()

    def diagnose_one(model_version: str, split_version: int) -> ModelEvaluation:
        humans = human_levels_for(layout, config, split_version)
        return diagnose_model_version(layout, config, model_version, split_version, humans)

    pairs = model_versions_to_evaluate(layout)
    evaluations, failures = evaluate_each(layout, pairs, "diagnosis", diagnose_one)
    refresh_catalog(layout, config)
    for evaluation in evaluations:
        overall = evaluation.overall
        context.log.info(
            f"{evaluation.model_version} (predicted on {', '.join(overall.stages_measured)}): "
            f"work on {', '.join(overall.problems) or 'nothing material'} "
            f"(human-level: {overall.human_level_source})"
        )
    metadata = {
        "model_versions": len(evaluations),
        "models": _models_table(evaluations),
        **_failure_metadata(failures),
        **_waiting_metadata(context, layout),
    }
    if evaluations:
        metadata.update(_evaluation_metadata(evaluations[-1]))
        metadata.update(_worst_slice_images(layout, config, evaluations[-1]))
    if failures:
        # Record what did work before failing, so the UI shows every diagnosis that exists.
        context.log_event(dg.AssetMaterialization(asset_key="diagnosis", metadata=metadata))
        _fail_if_any(failures, "diagnosis")
    return dg.MaterializeResult(metadata=metadata)


def _worst_slice_images(layout, config, evaluation: ModelEvaluation) -> dict:
    """A few dev images of the worst slice, inline: people would rather look than read."""
    shown = worst_slice_thumbnails(
        layout, config, evaluation.model_version, evaluation.split_version
    )
    if shown is None or not shown.thumbnails:
        return {}
    images = " ".join(
        f"![{t.example_id}: {t.label}, predicted {t.predicted_label}]"
        f"(data:image/png;base64,{base64.b64encode(t.png).decode()})"
        for t in shown.thumbnails
    )
    return {"worst_slice_images": dg.MetadataValue.md(f"**{shown.slice_label}**\n\n{images}")}


def _waiting_metadata(context: dg.AssetExecutionContext, layout) -> dict:
    """Nothing to evaluate yet is no failure: say what the step waits for."""
    waiting = waiting_for_predictions(layout)
    if waiting is None:
        return {}
    context.log.warning(waiting)
    return {"skipped": waiting}


def _fail_if_any(failures: list[ModelFailure], step: Step) -> None:
    if failures:
        raise dg.Failure(
            description=failure_summary(failures, step), metadata=_failure_metadata(failures)
        )


def _failure_metadata(failures: list[ModelFailure]) -> dict:
    if not failures:
        return {}
    return {"failed": markdown_table(["model", "why"], _failure_rows(failures))}


def _failure_rows(failures: list[ModelFailure]) -> list[tuple[str, str]]:
    return [(f"{f.model_version} (v{f.split_version})", f.reason) for f in failures]


def _models_table(evaluations: list[ModelEvaluation]) -> dg.MetadataValue:
    """Every model version's overall diagnosis: what it was predicted on and what to work on."""
    rows = []
    for evaluation in evaluations:
        overall = evaluation.overall
        rows.append(
            (
                evaluation.model_version,
                f"v{evaluation.split_version}",
                ", ".join(overall.stages_measured),
                *(percent(_rate(overall, stage)) for stage in STAGE_COLUMNS[1:]),
                ", ".join(overall.problems) or "nothing material",
                "; ".join(overall.not_assessed.values()) or "—",
                overall.train_measured_on or "—",
                ", ".join(
                    f"{split} {percent(ece)}"
                    for split, _, ece in ece_by_split(evaluation.calibration)
                )
                or "no probabilities",
            )
        )
    header = ["model", "split", "predicted on", *SPLIT_DISPLAY_NAMES.values()]
    return markdown_table([*header, "work on", "not assessed", "train error on", "ECE"], rows)


def _target_in_train(overall) -> str:
    target = overall.target_in_train
    if target is None:
        return "no fitted target example in train"
    return f"{percent(target.rate)} on {target.n:,} examples (context: no gap uses it)"


def _rate(overall, stage: str) -> float | None:
    error = overall.errors.get(stage)
    return None if error is None else error.rate


def _evaluation_metadata(evaluation: ModelEvaluation) -> dict:
    overall = evaluation.overall
    stage_rows = [
        (
            row["slice_column"] + " = " + row["slice_value"],
            percent(row["human_level_error"]),
            *(percent(row.get(f"{stage}_error")) for stage in STAGE_COLUMNS[1:]),
            row["problems"] or "—",
        )
        for row in evaluation.diagnosis_rows[:13]
    ]
    chart = base64.b64encode(evaluation.chart_path.read_bytes()).decode()
    return {
        "model_version": evaluation.model_version,
        "split_version": evaluation.split_version,
        "predicted_on": ", ".join(overall.stages_measured),
        "work_on": ", ".join(overall.problems),
        "not_assessed": "; ".join(overall.not_assessed.values()) or "every gap is assessed",
        "human_level_source": overall.human_level_source,
        "train_error_measured_on": overall.train_measured_on or "no train error",
        "target_in_train_error": _target_in_train(overall),
        "diagnosis": markdown_table(
            ["slice", "human", *SPLIT_DISPLAY_NAMES.values(), "problems"], stage_rows
        ),
        "low_performing_slices": markdown_table(
            ["rank", "slice", "n", "dev error", "gap", "errors removable", "p (Holm)"],
            [
                (
                    r["rank"] if is_finding(r) else "",
                    reading_label(r),
                    r["n"],
                    percent(r["error_rate"]),
                    percent(r["gap"]),
                    f"{r['errors_removable']:.1f}",
                    f"{r['p_adjusted']:.2g}",
                )
                for r in in_reading_order(evaluation.low_performing)[:10]
            ],
        ),
        "chart": dg.MetadataValue.md(f"![error by stage](data:image/png;base64,{chart})"),
        "chart_path": dg.MetadataValue.path(str(evaluation.chart_path)),
        **_calibration_metadata(evaluation),
    }


def _calibration_metadata(evaluation: ModelEvaluation) -> dict:
    if not evaluation.calibration or evaluation.reliability_path is None:
        return {"calibration": "no class probabilities registered"}
    png = base64.b64encode(evaluation.reliability_path.read_bytes()).decode()
    return {
        "calibration": markdown_table(
            ["split", "n", "ECE"],
            [(split, n, percent(ece)) for split, n, ece in ece_by_split(evaluation.calibration)],
        ),
        "reliability_chart": dg.MetadataValue.md(f"![reliability](data:image/png;base64,{png})"),
    }
