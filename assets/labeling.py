"""People in the loop: the Label Studio queue, annotation sync, human baselines, label review.

Thin: the steps themselves (queries, lake writes) are labeling/pipeline.py's."""

import dagster as dg
import httpx

from assets.ingest import WAREHOUSE_POOL
from assets.metadata import markdown_table
from assets.resources import BayeslineResource, LabelStudioResource
from deployment.settings import annotation_poll_seconds as poll_seconds_from_env
from labeling.pipeline import (
    annotation_cursor,
    baseline_project,
    latest_split_version,
    queue_baseline_tasks,
    store_human_baselines,
    store_label_review,
    sync_baseline_annotations,
)
from labeling.sync import LabelStudioUnavailable, has_new_annotations
from labeling.tasks import BlindProjectError
from warehouse.slice_bins import slice_label
from warehouse.slice_names import is_overall

# Label Studio may be restarting or slow: retry the sync with growing pauses, never lose work.
SYNC_RETRY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL)


@dg.asset(
    deps=["low_performing_slices"],
    group_name="labeling",
    pool=WAREHOUSE_POOL,
    description="Blind baseline tasks in Label Studio for the low-performing slices (and a "
    "sample of all of dev/test): several annotators each, never queued twice.",
)
def labeling_queue(
    context: dg.AssetExecutionContext,
    bayesline: BayeslineResource,
    labelstudio: LabelStudioResource,
) -> dg.MaterializeResult:
    layout, config = bayesline.layout(), bayesline.config()
    version = latest_split_version(layout)
    if not labelstudio.in_use() or version is None:
        context.log.warning(labelstudio.not_running_message())
        return dg.MaterializeResult(metadata={"pushed": 0, "status": "Label Studio not running"})
    with labelstudio.connect() as client:
        run = queue_baseline_tasks(client, layout, config, version)
    if config.labeling.simulated_annotators:
        simulated = run.simulated_annotations
        context.log.warning(f"{simulated} SIMULATED annotations posted (demo option)")
    most_tasks_first = sorted(run.tasks_by_slice().items(), key=lambda kv: -kv[1])
    return dg.MaterializeResult(
        metadata={
            "pushed": run.push.pushed,
            "already_in_label_studio": run.push.skipped_existing,
            "project": dg.MetadataValue.url(
                f"{labelstudio.labeling_url()}/projects/{run.project_id}"
            ),
            "by_slice": markdown_table(["slice", "tasks"], most_tasks_first),
        }
    )


@dg.asset(
    deps=["labeling_queue"],
    group_name="labeling",
    pool=WAREHOUSE_POOL,
    retry_policy=SYNC_RETRY,
    description="Annotations synced from Label Studio, incrementally by last update.",
)
def human_annotations(
    context: dg.AssetExecutionContext,
    bayesline: BayeslineResource,
    labelstudio: LabelStudioResource,
) -> dg.MaterializeResult:
    layout, config = bayesline.layout(), bayesline.config()
    if not labelstudio.in_use():
        context.log.warning(labelstudio.not_running_message())
        return dg.MaterializeResult(metadata={"new_annotations": 0, "status": "not running"})
    with labelstudio.connect() as client:
        # Raises LabelStudioUnavailable after its own retries; the run's retry policy and the
        # sensor's next tick resume from the stored cursor, so nothing is lost or duplicated.
        result = sync_baseline_annotations(client, layout, config)
    return dg.MaterializeResult(
        metadata={
            "new_annotations": result.new_rows,
            "cursor": str(result.cursor_after),
        }
    )


@dg.asset(
    deps=["human_annotations"],
    group_name="labeling",
    pool=WAREHOUSE_POOL,
    description="Human-level error per slice: the annotators' consensus (Dawid-Skene) against "
    "the gold label, each annotator's error, Krippendorff's alpha.",
)
def human_baselines(
    context: dg.AssetExecutionContext, bayesline: BayeslineResource
) -> dg.MaterializeResult:
    layout, config = bayesline.layout(), bayesline.config()
    baselines = store_human_baselines(layout, config, latest_split_version(layout))
    rows = baselines.rows
    overall = next((r for r in rows if is_overall(r["slice_column"])), None)
    return dg.MaterializeResult(
        metadata={
            "annotations": baselines.annotations,
            "simulated": bool(overall and overall["simulated"]),
            "baselines": markdown_table(
                ["slice", "examples", "consensus error", "typical annotator", "alpha"],
                [
                    (
                        slice_label(r["slice_column"], r["slice_value"]),
                        r["n_examples"],
                        f"{r['consensus_error']:.2%}",
                        "—"
                        if r["typical_annotator_error"] is None
                        else f"{r['typical_annotator_error']:.2%}",
                        "—"
                        if r["krippendorff_alpha"] is None
                        else f"{r['krippendorff_alpha']:.2f}",
                    )
                    for r in rows
                ],
            ),
        }
    )


@dg.asset(
    deps=["human_annotations"],
    group_name="labeling",
    pool=WAREHOUSE_POOL,
    description="Examples whose annotators confidently agree against the gold label: probable "
    "label errors to review.",
)
def label_review(context: dg.AssetExecutionContext, bayesline: BayeslineResource):
    layout, config = bayesline.layout(), bayesline.config()
    rows = store_label_review(layout, config, latest_split_version(layout))
    return dg.MaterializeResult(
        metadata={
            "probable_label_errors": len(rows),
            "examples": dg.MetadataValue.json(
                [
                    {k: r[k] for k in ("example_id", "gold_label", "consensus_label")}
                    for r in rows[:20]
                ]
            ),
        }
    )


#: How often the annotation sensor polls Label Studio; BAYESLINE_ANNOTATION_POLL_S overrides
#: it (a team labeling live may want it sooner; the browser tests use a few seconds).
ANNOTATION_POLL_S = 60


def annotation_poll_seconds() -> int:
    return poll_seconds_from_env(ANNOTATION_POLL_S)


def build_annotation_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=annotation_poll_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Polls Label Studio for new or edited annotations and syncs them.",
    )
    def label_studio_annotations_sensor(
        context: dg.SensorEvaluationContext,
        bayesline: BayeslineResource,
        labelstudio: LabelStudioResource,
    ):
        if not labelstudio.in_use():
            return dg.SkipReason(labelstudio.not_running_message())
        config = bayesline.config()
        since = annotation_cursor(bayesline.layout())
        try:
            with labelstudio.connect() as client:
                project_id = baseline_project(client, config)
                if not has_new_annotations(client, project_id, since):
                    return dg.SkipReason("no new annotations")
        except (LabelStudioUnavailable, httpx.TransportError) as exc:
            reason = str(exc) or type(exc).__name__
            return dg.SkipReason(f"Label Studio unreachable, will retry next tick: {reason}")
        except BlindProjectError as exc:
            return dg.SkipReason(f"the baseline project is not blind any more: {exc}")
        # The cursor lives in the lake (the newest stored update), so a failed run is simply
        # requested again on a later tick and resumes where the last good sync stopped.
        return dg.RunRequest(run_key=f"annotations-after-{since.isoformat() if since else 'start'}")

    return label_studio_annotations_sensor
