"""`bayesline team up|down|status`: the team deployment (Dagster on PostgreSQL) on one machine."""

from __future__ import annotations

from typing import Annotated

import typer

from bayesline.console import console, fail
from deployment.cluster import ClusterError, TeamCluster, team_down, team_up
from deployment.settings import POSTGRES_URL_ENV, DeploymentError, postgres_settings
from warehouse.layout import WarehouseLayout

team_app = typer.Typer(
    help="The team deployment: Dagster's runs and the lake lock on PostgreSQL.",
    no_args_is_help=True,
)


@team_app.command("up")
def up() -> None:
    """Start a private PostgreSQL (127.0.0.1 only) under BAYESLINE_HOME and point Dagster at it."""
    from bayesline.runner import ensure_dagster_home

    layout = WarehouseLayout.from_env()
    try:
        settings = team_up(TeamCluster(layout.home), console.print)
        dagster_home = ensure_dagster_home(layout)
    except (ClusterError, DeploymentError) as exc:
        raise fail(str(exc)) from exc
    if postgres_settings(layout.home) != settings:
        console.print(
            f"[yellow]{POSTGRES_URL_ENV} is set, so this machine uses that server, not the "
            "cluster just started; unset it to use this one.[/]"
        )
    console.print(f"Dagster keeps its runs in PostgreSQL {settings.describe()}: {dagster_home}")
    console.print(
        "Next: `bayesline materialize` (or `make team-demo`) runs on it; `make ui` shows its "
        "runs; `bayesline team down` stops it. This server listens on 127.0.0.1 only: on a "
        f"real team, set {POSTGRES_URL_ENV} on every machine to your team's server instead."
    )


@team_app.command("down")
def down(
    drop: Annotated[
        bool,
        typer.Option(
            "--drop", help="Also delete the cluster and its run history; back to the laptop."
        ),
    ] = False,
) -> None:
    """Stop the private PostgreSQL (its data stays for the next `team up`)."""
    layout = WarehouseLayout.from_env()
    try:
        team_down(TeamCluster(layout.home), drop, console.print)
    except ClusterError as exc:
        raise fail(str(exc)) from exc
    if drop:
        from bayesline.runner import ensure_dagster_home

        ensure_dagster_home(layout)
        console.print("Dagster keeps its runs on this machine again (SQLite in DAGSTER_HOME).")


@team_app.command("status")
def status() -> None:
    """Where Dagster keeps its runs; writes DAGSTER_HOME/dagster.yaml to match (`make ui`)."""
    from bayesline.runner import ensure_dagster_home

    layout = WarehouseLayout.from_env()
    try:
        settings = postgres_settings(layout.home)
        dagster_home = ensure_dagster_home(layout)
    except DeploymentError as exc:
        raise fail(str(exc)) from exc
    if settings is None:
        console.print(f"Laptop: Dagster keeps its runs in SQLite under {dagster_home}.")
    else:
        console.print(
            f"Team: Dagster keeps its runs in PostgreSQL {settings.describe()} (from "
            f"{settings.origin}), which answers; lake writes take its advisory lock."
        )
