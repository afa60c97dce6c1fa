"""Landing files -> `examples` and `rejected_rows`, and the sensor that notices new files."""

import hashlib
import json

import dagster as dg

from assets.metadata import markdown_table
from assets.resources import BayeslineResource
from warehouse.catalog import refresh_catalog
from warehouse.config import ConfigError
from warehouse.ingest import FileIngestResult, ingest_landing_files, pending_landing_files

WAREHOUSE_POOL = "bayesline_warehouse_writer"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "examples",
            group_name="warehouse",
            description="Every valid example from the landing files (Parquet in lake/examples).",
        ),
        dg.AssetSpec(
            "rejected_rows",
            group_name="warehouse",
            description="Quarantined rows and files: file, line, raw text and reason.",
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def warehouse_examples(context: dg.AssetExecutionContext, bayesline: BayeslineResource):
    """Ingest every landing file not ingested yet; re-runs never duplicate."""
    layout, config = bayesline.layout(), bayesline.config()

    def log_file(result: FileIngestResult) -> None:
        if result.status != "skipped":
            context.log.info(
                f"{result.source}/{result.path.name}: {result.status}, "
                f"{result.rows_loaded:,} loaded ({result.rows_updated:,} updates), "
                f"{result.rows_already_present:,} already present, "
                f"{result.rows_rejected:,} rejected"
                + (f" ({result.reason})" if result.reason else "")
            )

    summary = ingest_landing_files(layout, config, on_file=log_file)
    refresh_catalog(layout, config)
    new = summary.new_files
    files_table = markdown_table(
        [
            "source",
            "file",
            "status",
            "loaded",
            "updates",
            "already present",
            "rejected",
            "read by",
            "reason",
        ],
        [
            (
                f.source,
                f.path.name,
                f.status,
                f.rows_loaded,
                f.rows_updated,
                f.rows_already_present,
                f.rows_rejected,
                f.read_path or "",
                f.reason or f.fallback_reason or "",
            )
            for f in new
        ],
    )
    yield dg.MaterializeResult(
        asset_key="examples",
        metadata={
            "new_files": len(new),
            "rows_loaded": summary.rows_loaded,
            "rows_updated": summary.rows_updated,
            "rows_already_present": summary.rows_already_present,
            "files": files_table,
            "warehouse": dg.MetadataValue.path(str(layout.catalog_path)),
        },
    )
    reasons: dict[str, int] = {}
    for f in new:
        for kind, n in f.rejects_by_type.items():
            reasons[kind] = reasons.get(kind, 0) + n
        if f.status == "rejected":
            reasons["unreadable_file"] = reasons.get("unreadable_file", 0) + 1
    yield dg.MaterializeResult(
        asset_key="rejected_rows",
        metadata={
            "rows_rejected": summary.rows_rejected,
            "files_rejected": len(summary.files_rejected),
            "by_reason": markdown_table(["reason", "rows"], sorted(reasons.items())),
        },
    )


def _run_key(file_ids: list[str]) -> str:
    return hashlib.sha256(",".join(sorted(file_ids)).encode()).hexdigest()[:24]


def build_landing_sensor(job) -> dg.SensorDefinition:
    """The sensor that starts `job` when new landing files appear."""

    @dg.sensor(
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts the pipeline when new files appear under landing/<source>/.",
    )
    def landing_files_sensor(context: dg.SensorEvaluationContext, bayesline: BayeslineResource):
        from assets.runs import free_stale_runs, stale_reason  # assets.runs imports this module

        for run in free_stale_runs(context.instance, freed_by="landing_files_sensor"):
            context.log.warning(f"Freed {run.describe()}: {stale_reason(run, 'this sensor')}")
        try:
            bayesline.config()
        except ConfigError as exc:  # every run would fail on it: say so once, start none
            return dg.SkipReason(f"not starting a run until the config is fixed: {exc}")
        seen = json.loads(context.cursor) if context.cursor else {}
        pending, fingerprints = pending_landing_files(bayesline.layout(), seen)
        context.update_cursor(json.dumps(fingerprints))
        if not pending:
            return dg.SkipReason("no new landing files")
        names = ", ".join(f"{f.source}/{f.path.name}" for f, _ in pending[:5])
        context.log.info(f"{len(pending)} new landing file(s): {names}")
        return dg.RunRequest(run_key=_run_key([file_id for _, file_id in pending]))

    return landing_files_sensor
