"""Materialise the pipeline in-process on the project's Dagster instance (used by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

PIPELINE_JOB = "bayesline_pipeline"


@dataclass(frozen=True)
class RunEvent:
    kind: str  # "materialized", "check", "failed" or "skipped"
    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class RunOutcome:
    success: bool
    run_id: str
    events: list[RunEvent]
    interrupted: bool = False  # stopped by SIGINT (Ctrl-C) or SIGTERM


class UnknownSelectionError(ValueError):
    """The asset selection matches nothing."""


def materialize_pipeline(
    select: str | None = None,
    log_level: str = "INFO",
    run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> RunOutcome:
    """Run the selection (default: every asset and check) with Dagster's own executor.

    DAGSTER_HOME must be set: runs are recorded in that instance and show in the UI.
    """
    from assets.definitions import defs

    job = defs.resolve_job_def(PIPELINE_JOB)
    asset_keys = None
    if select:
        asset_keys = _resolve_selection(select, defs)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            instance=instance,
            asset_selection=asset_keys,
            raise_on_error=False,
            run_id=run_id,
            tags=tags,
        )
    events = [e for e in map(_event, result.all_events) if e is not None]
    return RunOutcome(result.success, result.run_id, events, _was_interrupted(result.all_events))


def _was_interrupted(events: list[dg.DagsterEvent]) -> bool:
    """Dagster turns Ctrl-C into a run failure of reason UNEXPECTED_TERMINATION."""
    return any(
        e.event_type_value == "PIPELINE_FAILURE"
        and getattr(e.event_specific_data.failure_reason, "value", "") == "UNEXPECTED_TERMINATION"
        for e in events
    )


def _resolve_selection(select: str, defs: dg.Definitions) -> list[dg.AssetKey]:
    try:
        selection = dg.AssetSelection.from_string(select).required_multi_asset_neighbors()
        keys = list(selection.resolve(defs.resolve_asset_graph(), allow_missing=True))
    except Exception as exc:  # Dagster raises several kinds for a bad selection string
        raise UnknownSelectionError(f"'{select}' is not a valid asset selection: {exc}") from exc
    if not keys:
        raise UnknownSelectionError(f"the selection '{select}' matches no asset")
    return keys


def _event(event: dg.DagsterEvent) -> RunEvent | None:
    kind = event.event_type_value
    if kind == "ASSET_MATERIALIZATION":
        return RunEvent("materialized", event.asset_key.to_user_string(), True)
    if kind == "ASSET_CHECK_EVALUATION":
        data = event.event_specific_data
        return RunEvent("check", data.check_name, data.passed, data.severity.value)
    if kind == "STEP_FAILURE":
        return RunEvent("failed", event.step_key, False, event.event_specific_data.error.message)
    if kind == "STEP_SKIPPED":
        return RunEvent("skipped", event.step_key, False, "a blocking check failed upstream")
    return None
