"""What a pipeline run tells a person: a line per asset and check, the root cause of each
failure in one line in the user's terms, and the full Dagster log (tracebacks) in a file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from bayesline.console import print_error
from deployment.errors import BayeslineError, InvariantError
from warehouse.layout import WarehouseLayout

if TYPE_CHECKING:
    from assets.run import RunEvent, RunOutcome

#: Exceptions that are not Bayesline's yet not a bug either: `Failure` is how an asset fails
#: on purpose with a message of its own, and KeyboardInterrupt is the user's Ctrl-C.
DELIBERATE_FAILURES = frozenset({"Failure", "KeyboardInterrupt"})
MARKS = {"materialized": "[green]materialised[/]", "skipped": "[yellow]skipped[/]"}


def report_run(outcome: RunOutcome, console: Console, layout: WarehouseLayout) -> bool:
    """Print the run's events, write its log, and on failure say why in one `error:` line."""
    log_path = write_run_log(outcome, layout)
    blocked = any(_blocks(e) for e in outcome.events)
    for event in outcome.events:
        if not (blocked and _wraps_a_check(event)):
            console.print(event_line(event), soft_wrap=True)
    console.print(f"[dim]Dagster run {outcome.run_id}; its full log: {log_path}[/]")
    problems = run_problems(outcome)
    if problems:
        more = f" ({len(problems) - 1} more above)" if len(problems) > 1 else ""
        print_error(f"{problems[0].rstrip('.')}{more}; full log: {log_path}")
    return outcome.success and not problems


def write_run_log(outcome: RunOutcome, layout: WarehouseLayout) -> str:
    """logs/run-<id>.log under BAYESLINE_HOME: what Dagster logged, tracebacks included."""
    layout.logs_dir.mkdir(parents=True, exist_ok=True)
    path = layout.logs_dir / f"run-{outcome.run_id}.log"
    path.write_text("\n".join(outcome.log) + "\n", encoding="utf-8")
    return str(path)


def event_line(event: RunEvent) -> str:
    name = escape(event.name)
    if event.kind == "check":
        if event.ok:
            return f"check {name}: [green]passed[/]"
        verdict = (
            "[yellow]warning[/]"
            if event.detail == "WARN"
            else "[red]failed[/] (blocking)"
            if event.blocking
            else "[red]failed[/]"
        )
        return f"check {name}: {verdict}: {escape(event.explanation)}"
    if event.kind == "failed":
        return f"[red]step failed[/] {name}: {escape(failure_cause(event))}"
    detail = f" ({escape(event.detail)})" if event.detail else ""
    return f"{MARKS[event.kind]} {name}{detail}"


def failure_cause(event: RunEvent) -> str:
    """A failed step's root cause in one line; a bug is called a bug."""
    if is_a_bug(event.error_class):
        return (
            f"unexpected {event.error_class}: {event.detail.rstrip('.')}. This is a bug in "
            "Bayesline: please report it with the log file below"
        )
    return event.detail


def is_a_bug(error_class: str) -> bool:
    """Whether a step that failed with this exception class failed by a bug in Bayesline.

    Only an error that Bayesline, Dagster or the user raise on purpose is the user's problem:
    a BayeslineError (its message says what to change), Dagster's own errors (a bad run config
    from the UI, a failed blocking check) and a deliberate failure. Any other class (KeyError,
    TypeError, an InvariantError) is a bug. A step with no recorded error names no class: that
    is no evidence of a bug.
    """
    if not error_class:
        return False
    return not (
        error_class in user_error_names()
        or error_class.startswith("Dagster")
        or error_class in DELIBERATE_FAILURES
    )


def user_error_names() -> set[str]:
    """The names of BayeslineError and its subclasses, but not of InvariantError's (a broken
    guarantee is a bug).

    Dagster's event carries only the class name, so the classes are matched by name. The step
    ran in this process, so the class it raised is loaded and found among the subclasses.
    """
    names: set[str] = set()
    pending: list[type[BayeslineError]] = [BayeslineError]
    while pending:
        error = pending.pop()
        if not issubclass(error, InvariantError):
            names.add(error.__name__)
        pending.extend(error.__subclasses__())
    return names


def run_problems(outcome: RunOutcome) -> list[str]:
    """Why the run did not succeed, one line each: blocking checks first, then failed steps
    (steps failing with the same cause are named together)."""
    checks = [f"check {e.name} failed: {e.explanation}" for e in outcome.events if _blocks(e)]
    steps: dict[str, list[str]] = {}
    for event in outcome.events:
        if event.kind == "failed" and not (checks and _wraps_a_check(event)):
            steps.setdefault(failure_cause(event), []).append(event.name)
    failed = [f"{', '.join(names)} failed: {cause}" for cause, names in steps.items()]
    problems = checks + failed
    if not problems and not outcome.success:
        problems.append("the run did not succeed")
    return problems


def _blocks(event: RunEvent) -> bool:
    """A failed blocking check fails the run; a failed non-blocking one (the promotion gate)
    is a finding shown in its line, not a failure of the pipeline."""
    return event.kind == "check" and not event.ok and event.detail != "WARN" and event.blocking


def _wraps_a_check(event: RunEvent) -> bool:
    """Dagster fails the step of a blocking check that failed: the check said why already."""
    return event.kind == "failed" and event.error_class.startswith("Dagster")
