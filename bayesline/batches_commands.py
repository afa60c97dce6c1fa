"""`bayesline batches ...`: see each ingested batch and decide about the ones that block."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bayesline.console import checked_config, console, fail
from warehouse.batch_decisions import (
    ACCEPT_COMMAND,
    EXCLUDE_COMMAND,
    BatchDecisionError,
    landing_name,
    record_batch_decision,
)
from warehouse.catalog import fetch_dicts, open_reader, refresh_catalog
from warehouse.layout import WarehouseLayout

batches_app = typer.Typer(
    help="Ingested batches (landing files): list them, exclude or accept one that blocks.",
    no_args_is_help=True,
)

FileArgument = Annotated[
    str, typer.Argument(help="The landing file: its path, its name, or its file id.")
]
ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="Why; kept with the decision.")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who decides (default: your user name).")
]
STATE_STYLES = {"ok": "green", "blocking": "bold red", "excluded": "yellow", "accepted": "cyan"}


@batches_app.command("list")
def batches_list() -> None:
    """Every ingested batch with its counts and state (ok, blocking, excluded, accepted)."""
    layout, config = WarehouseLayout.from_env(), checked_config()
    with open_reader(layout, config) as con:
        batches = fetch_dicts(con, "SELECT * FROM batches")
    if not batches:
        console.print("No batch ingested yet: land files and run `bayesline materialize`.")
        return
    console.print(_batches_table(batches))
    for b in batches:
        if b["state"] != "ok":
            state = f"[{STATE_STYLES[b['state']]}]{b['state']}[/]"
            console.print(f"{_name(b)} {state}: {escape(_why(b))}", soft_wrap=True)
    if any(b["state"] == "blocking" for b in batches):
        console.print(
            f"Blocking batches stop every publish until you decide: `{EXCLUDE_COMMAND}` keeps "
            f"one out, `{ACCEPT_COMMAND}` lets its good rows in.",
            soft_wrap=True,
        )


def _batches_table(batches: list[dict]) -> Table:
    table = Table(title="Batches")
    table.add_column("file", overflow="fold")
    table.add_column("id", no_wrap=True)
    for column in ("read", "loaded", "rejected", "reject rate"):
        table.add_column(column, justify="right")
    table.add_column("state")
    for b in batches:
        table.add_row(
            _name(b),
            b["file_id"],
            f"{b['rows_read']:,}",
            f"{b['rows_loaded']:,}",
            f"{b['rows_rejected']:,}",
            "-" if b["reject_rate"] is None else f"{b['reject_rate']:.1%}",
            f"[{STATE_STYLES[b['state']]}]{b['state']}[/]",
        )
    return table


def _name(batch: dict) -> str:
    return landing_name(batch["source"], batch["file_path"])


def _why(batch: dict) -> str:
    """A blocking batch's problem, or a decision's reason with who took it and when."""
    if not batch["decision"]:
        return batch["problem"]
    return (
        f"{batch['decision_reason']} ({batch['decided_by']}, "
        f"{batch['decided_at']:%Y-%m-%d %H:%M} UTC; {batch['problem'] or 'no problem found'})"
    )


@batches_app.command("exclude")
def batches_exclude(file: FileArgument, reason: ReasonOption, by: ByOption = None) -> None:
    """Keep a batch's rows out of the next split versions (nothing is deleted)."""
    _decide(file, "exclude", reason, by)


@batches_app.command("accept")
def batches_accept(file: FileArgument, reason: ReasonOption, by: ByOption = None) -> None:
    """Let a batch's good rows into the next split versions despite its reject rate."""
    _decide(file, "accept", reason, by)


def _decide(file: str, decision: str, reason: str, by: str | None) -> None:
    layout, config = WarehouseLayout.from_env(), checked_config()
    try:
        outcome = record_batch_decision(layout, file, decision, reason, decided_by=by)
    except BatchDecisionError as exc:
        raise fail(str(exc)) from exc
    refresh_catalog(layout, config)
    console.print(escape(outcome.message))
