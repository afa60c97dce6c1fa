"""`bayesline runs` and `bayesline runs clean`: see and clear runs that hold the pipeline."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from bayesline.console import console, fail
from bayesline.runner import ensure_dagster_home
from deployment.settings import DeploymentError
from warehouse.layout import WarehouseLayout

runs_app = typer.Typer(
    help="Pipeline runs: their state, and clearing runs whose process is gone.",
    invoke_without_command=True,
)

_PROCESS_WORDS = {
    "alive": "alive",
    "gone": "[red]gone[/]",
    "elsewhere": "[yellow]on another machine[/]",
    "unknown": "[yellow]not recorded[/]",
}


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many of the newest runs to show.")] = 20,
) -> None:
    """Runs in progress or holding the writer pool, then the newest others."""
    if ctx.invoked_subcommand is not None:
        return
    from assets.runs import list_runs, open_instance

    _prepare_instance()
    with open_instance() as instance:
        runs = list_runs(instance, limit=limit)
    if not runs:
        console.print("No runs yet: `bayesline materialize` starts one.")
        return
    table = Table(title="Runs (newest first)")
    for column in ("run", "job", "state", "started (UTC)", "process", "writer pool"):
        table.add_column(column, no_wrap=column in ("run", "state"))
    for run in runs:
        process = f"pid {run.pid} on {run.host}" if run.pid else ""
        if run.process is not None:
            process = f"{process} ({_PROCESS_WORDS[run.process]})".strip()
        table.add_row(
            run.run_id[:8],
            run.job,
            run.status + (" [red]stale[/]" if run.stale else ""),
            f"{run.started_at:%Y-%m-%d %H:%M:%S}" if run.started_at else "-",
            process or "-",
            "holds" if run.holds_pool else "waits" if run.waits_for_pool else "",
        )
    console.print(table)
    if any(run.stale or run.might_be_alive for run in runs):
        console.print("`bayesline runs clean` frees the stale runs (and asks about the others).")


@runs_app.command("clean")
def runs_clean(
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Also free runs whose process might be alive, unasked."),
    ] = False,
) -> None:
    """Mark runs whose process is gone as failed and free their writer pool slots.

    A run whose process may still be alive (on another machine, or not recorded) is freed only
    after you confirm, or with --yes; a run whose process is alive here is never freed.
    """
    from assets.runs import free_run, list_runs, open_instance, stale_reason

    _prepare_instance()
    freed_by = f"`bayesline runs clean` (pid {os.getpid()})"
    freed = 0
    with open_instance() as instance:
        for run in list_runs(instance, limit=0):
            if run.stale:
                reason = stale_reason(run, freed_by)
            elif run.might_be_alive and (
                yes or typer.confirm(f"{run.describe()} might still be running. Free it?")
            ):
                reason = f"freed by hand with {freed_by}; its process could not be checked"
            else:
                continue
            free_run(instance, run.run_id, reason)
            console.print(f"Freed {run.describe()}: {reason}")
            freed += 1
    if not freed:
        console.print("Nothing to clean: no run holds the pipeline with its process gone.")


def _prepare_instance() -> None:
    """DAGSTER_HOME and its instance config, or the deployment's error in one line."""
    try:
        ensure_dagster_home(WarehouseLayout.from_env())
    except DeploymentError as exc:
        raise fail(str(exc)) from exc
