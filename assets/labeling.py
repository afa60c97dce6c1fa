"""People in the loop: the Label Studio queue, annotation sync, human baselines, label review."""

import os
from datetime import UTC, datetime

import dagster as dg
import httpx

from assets.ingest import WAREHOUSE_POOL
from assets.metadata import markdown_table
from assets.resources import BayeslineResource, LabelStudioResource
from labeling.baselines import compute_human_baselines
from labeling.queue import (
    ImageServing,
    labeling_interface,
    select_baseline_examples,
    slices_to_label,
)
from labeling.review import find_probable_label_errors
from labeling.simulate import simulate_annotations
from labeling.sync import (
    LabelStudioUnavailable,
    has_new_annotations,
    stored_cursor,
    sync_annotations,
)
from labeling.tasks import (
    BlindProjectError,
    ensure_local_storage,
    ensure_project,
    push_tasks,
    queued_record_rows,
)
from warehouse.catalog import open_reader, refresh_catalog
from warehouse.schema import HUMAN_BASELINE_COLUMNS, LABEL_REVIEW_COLUMNS, LABELING_QUEUE_COLUMNS
from warehouse.slice_bins import slice_label
from warehouse.splits import published_versions
from warehouse.storage import write_records

# Label Studio may be restarting or slow: retry the sync with growing pauses, never lose work.
SYNC_RETRY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _latest_version(layout) -> int | None:
    versions = published_versions(layout)
    return versions[-1] if versions else None


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
    version = _latest_version(layout)
    if not labelstudio.in_use() or version is None:
        context.log.warning(labelstudio.not_running_message())
        return dg.MaterializeResult(metadata={"pushed": 0, "status": "Label Studio not running"})
    with open_reader(layout, config) as con:
        slices = slices_to_label(con, version)
        queued = [r[0] for r in con.execute("SELECT example_id FROM labeling_queue").fetchall()]
        per_slice = con.execute(
            "SELECT slice_column, slice_value, count(*) FROM labeling_queue "
            "WHERE split_version = ? GROUP BY ALL",
            [version],
        ).fetchall()
        examples = select_baseline_examples(
            con,
            config,
            version,
            slices,
            per_slice_cap=config.labeling.per_slice_cap,
            exclude=queued,
            overall_cap=config.labeling.overall_cap,
            already_queued={(c, v): n for c, v, n in per_slice},
        )
    with labelstudio.connect() as client:
        project_id = _project(client, config)
        images = None
        if config.dataset.image_columns:
            images = ImageServing(layout.home, config.dataset.image_columns)
            for folder in images.storage_folders(examples):
                ensure_local_storage(client, project_id, folder)
        result = push_tasks(client, project_id, examples, version, images=images)
        # Examples found already in Label Studio (a crash after import) get their record too.
        rows = queued_record_rows(result, examples, version, _now())
        if rows:
            path = layout.labeling_dir / "queue" / f"queued-{_now():%Y%m%dT%H%M%S%f}.parquet"
            write_records(LABELING_QUEUE_COLUMNS, rows, path)
        if config.labeling.simulated_annotators:
            # Simulated people label only the overall sample; the weak slices wait for people.
            overall = [e.example_id for e in examples if e.slice_label == "overall = all"]
            gold = _gold_labels(layout, config, version, overall)
            simulated = simulate_annotations(
                client,
                project_id,
                gold,
                config.dataset.labels,
                config.labeling.simulated_annotators,
            )
            context.log.warning(f"{simulated} SIMULATED annotations posted (demo option)")
    refresh_catalog(layout, config)
    return dg.MaterializeResult(
        metadata={
            "pushed": result.pushed,
            "already_in_label_studio": result.skipped_existing,
            "project": dg.MetadataValue.url(f"{labelstudio.url()}/projects/{project_id}"),
            "by_slice": markdown_table(
                ["slice", "tasks"],
                sorted(_count_by_slice(examples).items(), key=lambda kv: -kv[1]),
            ),
        }
    )


def _project(client, config) -> int:
    """The baseline project, created with the blind interface the first time."""
    labeling = config.labeling
    return ensure_project(
        client, labeling.project_title, labeling_interface(config), labeling.overlap
    )


def _count_by_slice(examples) -> dict[str, int]:
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.slice_label] = counts.get(example.slice_label, 0) + 1
    return counts


def _gold_labels(layout, config, version: int, example_ids: list[str]) -> dict[str, str]:
    with open_reader(layout, config) as con:
        rows = con.execute(
            "SELECT example_id, label FROM splits "
            "WHERE version = ? AND list_contains(?, example_id)",
            [version, example_ids],
        ).fetchall()
    return dict(rows)


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
        project_id = _project(client, config)
        # Raises LabelStudioUnavailable after its own retries; the run's retry policy and the
        # sensor's next tick resume from the stored cursor, so nothing is lost or duplicated.
        result = sync_annotations(client, project_id, layout.labeling_dir / "annotations")
    refresh_catalog(layout, config)
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
    version = _latest_version(layout)
    with open_reader(layout, config) as con:
        annotated = con.execute("SELECT count(*) FROM human_annotations").fetchone()[0]
        rows = compute_human_baselines(con, config, version) if annotated and version else []
    if rows:
        path = layout.labeling_dir / "baselines" / f"v{version:04d}.parquet"
        write_records(HUMAN_BASELINE_COLUMNS, rows, path)
        refresh_catalog(layout, config)
    overall = next((r for r in rows if r["slice_column"] == "overall"), None)
    return dg.MaterializeResult(
        metadata={
            "annotations": annotated,
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
    version = _latest_version(layout)
    with open_reader(layout, config) as con:
        annotated = con.execute("SELECT count(*) FROM human_annotations").fetchone()[0]
        rows = find_probable_label_errors(con, config, version) if annotated and version else []
    if version is not None:
        path = layout.labeling_dir / "review" / f"v{version:04d}.parquet"
        write_records(LABEL_REVIEW_COLUMNS, rows, path)
        refresh_catalog(layout, config)
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
    value = os.environ.get("BAYESLINE_ANNOTATION_POLL_S", "")
    return int(value) if value.isdigit() and int(value) > 0 else ANNOTATION_POLL_S


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
        since = stored_cursor(bayesline.layout().labeling_dir / "annotations")
        try:
            with labelstudio.connect() as client:
                project_id = _project(client, config)
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
