"""Materialise the pipeline in-process on the project's Dagster instance (used by the CLI)."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import dagster as dg

from deployment.errors import BayeslineError

if TYPE_CHECKING:
    from dagster_shared.error import SerializableErrorInfo

PIPELINE_JOB = "bayesline_pipeline"


#: What happened to an asset or check in a run.
RunEventKind = Literal["materialized", "check", "failed", "skipped"]


@dataclass(frozen=True)
class RunEvent:
    kind: RunEventKind
    name: str
    ok: bool
    detail: str = ""  # a check's severity; a failed step's root cause, in one line
    explanation: str = ""  # a check's description: what held or failed, in one line
    remedy: str = ""  # a failed check's advice on what to do
    error_class: str = ""  # a failed step's root exception class, e.g. ConfigError
    blocking: bool = False  # a check whose failure stops the assets downstream of it


@dataclass(frozen=True)
class RunOutcome:
    success: bool
    run_id: str
    events: list[RunEvent]
    log: list[str] = field(default_factory=list)  # the run's Dagster log, tracebacks included
    interrupted: bool = False  # stopped by SIGINT (Ctrl-C) or SIGTERM


class UnknownSelectionError(BayeslineError, ValueError):
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
        log = [_log_line(entry) for entry in instance.all_logs(result.run_id)]
    events = [e for e in map(_event, result.all_events) if e is not None]
    return RunOutcome(
        result.success, result.run_id, events, log, _was_interrupted(result.all_events)
    )


def _was_interrupted(events: Sequence[dg.DagsterEvent]) -> bool:
    """Dagster turns Ctrl-C into a run failure of reason UNEXPECTED_TERMINATION."""
    return any(
        e.is_run_failure
        and getattr(e.job_failure_data.failure_reason, "value", "") == "UNEXPECTED_TERMINATION"
        for e in events
    )


def _resolve_selection(select: str, defs: dg.Definitions) -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    try:
        selection = dg.AssetSelection.from_string(select).required_multi_asset_neighbors()
        keys = list(selection.resolve(graph, allow_missing=True))
    except Exception as exc:  # Dagster raises several kinds for a bad selection string
        problem = f"'{select}' is not a valid asset selection ({_first_line(str(exc))})"
        raise UnknownSelectionError(_selection_help(problem, select, graph)) from exc
    if not keys:
        problem = f"the selection '{select}' matches no asset"
        raise UnknownSelectionError(_selection_help(problem, select, graph))
    return keys


#: How to write a selection, shown with every selection error (and in the README).
SELECTION_SYNTAX = (
    "'key:a or key:b' (both), 'a+' (a and its children), '*a' (a and everything upstream), "
    "'a*' (a and everything downstream)"
)


def _selection_help(problem: str, select: str, graph) -> str:
    """The problem, a near asset name if the selection looks misspelt, every asset, the syntax."""
    names = sorted(key.to_user_string() for key in graph.get_all_asset_keys())
    typed = re.sub(r"^key:|[*+]", "", select.strip())
    close = difflib.get_close_matches(typed, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{problem}{hint} Assets: {', '.join(names)}. Selection syntax: {SELECTION_SYNTAX}."


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _log_line(entry: dg.EventLogEntry) -> str:
    """One entry of a run's Dagster log as text, with the full error of a failure."""
    when = datetime.fromtimestamp(entry.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
    where = f" {entry.step_key}" if entry.step_key else ""
    level = logging.getLevelName(entry.level) if isinstance(entry.level, int) else entry.level
    line = f"{when} {level}{where}: {entry.message}"
    event = entry.dagster_event
    if event is not None and event.is_step_failure and event.step_failure_data.error is not None:
        line += "\n" + event.step_failure_data.error.to_string()
    return line


#: What a failed step reports when Dagster recorded no error for it.
NO_ERROR_RECORDED = "the step failed without recording an error"


def _root_cause(error: SerializableErrorInfo | None) -> tuple[str, str]:
    """The user's exception inside Dagster's wrappers: (class name, message in one line).

    Dagster wraps what the step raised (DagsterExecutionStepExecutionError, cause: the
    ConfigError); the first error in the chain that is not Dagster's own is the one that
    speaks the user's terms, even when it was itself raised from a lower-level error.
    """
    chain: list[SerializableErrorInfo] = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    if not chain:
        return "", NO_ERROR_RECORDED
    root = next((e for e in chain if not (e.cls_name or "").startswith("Dagster")), chain[-1])
    cls_name = root.cls_name or ""
    text = " ".join(line.strip() for line in root.message.strip().splitlines() if line.strip())
    # format_exception_only prefixes "module.Class: "; the class is reported on its own.
    prefix, sep, rest = text.partition(": ")
    if sep and prefix.rsplit(".", 1)[-1] == cls_name:
        text = rest
    return cls_name, text


def _event(event: dg.DagsterEvent) -> RunEvent | None:
    if event.is_step_materialization:
        # An asset with nothing to do (no baseline fits, no predictions yet) says why.
        materialization = event.step_materialization_data.materialization
        skipped = materialization.metadata.get("skipped")
        detail = f"skipped: {skipped.value}" if skipped is not None else ""
        return RunEvent("materialized", materialization.asset_key.to_user_string(), True, detail)
    if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        data = event.asset_check_evaluation_data
        said = {key: str(getattr(value, "value", value)) for key, value in data.metadata.items()}
        return RunEvent(
            "check",
            data.check_name,
            data.passed,
            data.severity.value,
            explanation=said.get("description", ""),
            remedy=said.get("what_to_do", ""),
            blocking=bool(data.blocking),
        )
    # A step's events always carry its key; the empty name only satisfies the Optional field.
    step = event.step_key or ""
    if event.is_step_failure:
        error_class, cause = _root_cause(event.step_failure_data.error)
        return RunEvent("failed", step, False, cause, error_class=error_class)
    if event.is_step_skipped:
        return RunEvent("skipped", step, False, "a blocking check failed upstream")
    return None
