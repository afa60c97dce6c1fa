"""Run the Dagster pipeline from the command line, on the project's own instance."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from bayesline.console import print_error
from deployment.instance import write_instance_yaml
from deployment.postgres import check_reachable
from deployment.settings import DeploymentError, dagster_home, postgres_settings
from warehouse.catalog import open_reader
from warehouse.config import load_config
from warehouse.layout import WarehouseLayout
from warehouse.recovery import remove_abandoned_staging
from warehouse.slice_names import OVERALL_COLUMN_SQL
from warehouse.split_names import SPLIT_DISPLAY_NAMES, SPLITS
from warehouse.sql_results import fetch_count
from warehouse.versions import list_versions

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WAITED_TAG = "bayesline/waited"
CANCEL_REASON = "Canceled with Ctrl-C in `bayesline materialize`."


def ensure_dagster_home(layout: WarehouseLayout) -> Path:
    """Point DAGSTER_HOME inside the data directory (unless set) and give it the instance
    config of this deployment: our dagster.yaml, plus PostgreSQL storage for a team.

    Raises DeploymentError, in one line, when the team's PostgreSQL does not answer.
    """
    home = (dagster_home() or layout.home / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    team = postgres_settings(layout.home)
    if team is not None:
        check_reachable(team)
    write_instance_yaml(home, PROJECT_ROOT / "dagster.yaml", team)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_pipeline(select: str | None, console: Console) -> bool:
    """Materialise the selection (default: everything) through Dagster; True if it succeeded."""
    from assets.run import UnknownSelectionError, materialize_pipeline
    from bayesline.run_report import report_run

    layout = WarehouseLayout.from_env()
    try:
        ensure_dagster_home(layout)
    except DeploymentError as exc:
        print_error(str(exc))
        return False
    try:
        outcome = _materialize_in_turn(select, layout, console, materialize_pipeline)
    except UnknownSelectionError as exc:
        print_error(str(exc))
        return False
    if outcome is None:
        return False
    return report_run(outcome, console, layout)


def _materialize_in_turn(select, layout: WarehouseLayout, console: Console, materialize):
    """Wait for the pipeline's turn, then run; Ctrl-C cancels the run (or the wait) cleanly.

    Returns the outcome, or None when Ctrl-C came before Dagster could record one.
    """
    from assets.runs import open_instance, process_tags, record_wait
    from bayesline.pipeline_turn import pipeline_turn

    run_id = str(uuid.uuid4())
    try:
        with pipeline_turn(layout, run_id, console.print) as turn:
            for path in remove_abandoned_staging(layout, older_than=turn.clear_at):
                console.print(f"Removed {path}: a staging leftover of a killed run")
            tags = process_tags()
            if turn.waited_for:
                tags[WAITED_TAG] = turn.summary()[:250]
            try:
                with console.status("Materialising with Dagster..."):
                    # Dagster's console log would bury a failure's cause in its traceback: the
                    # log goes to a file instead, and report_run says what failed in one line.
                    outcome = materialize(select, run_id=run_id, tags=tags, log_level="CRITICAL")
            except KeyboardInterrupt:
                outcome = None
            if outcome is not None and turn.waited_for:
                record_wait(run_id, f"Before starting, this run {turn.summary()}.")
            if outcome is None or outcome.interrupted:
                with open_instance() as instance:
                    _cancel(instance, run_id, console)
            return outcome
    except KeyboardInterrupt:  # while waiting for the turn: nothing started
        console.print("[yellow]Canceled while waiting; nothing ran.[/]")
        return None


def _cancel(instance, run_id: str, console: Console) -> None:
    from assets.runs import free_run

    free_run(instance, run_id, CANCEL_REASON, canceled=True, even_if_finished=True)
    console.print(f"[yellow]Canceled[/] run {run_id} (Ctrl-C); its pool slots are free.")


def print_summary(console: Console) -> None:
    """Rows ingested and rejected, split sizes and version, the diagnosis, and what next."""
    from evaluation.distribution_shift import mismatch_line
    from evaluation.pipeline import write_model_report

    layout, config = WarehouseLayout.from_env(), load_config()
    with open_reader(layout, config) as con:
        loaded = _count_rows(con, "examples")
        rejected = _count_rows(con, "rejected_rows")
        versions = list_versions(con)
        overall = con.execute(
            "SELECT model_version, human_level_source, human_level_error, train_error, "
            "train_dev_error, dev_error, test_error, problems, train_measured_on FROM diagnosis "
            f"WHERE slice_column = {OVERALL_COLUMN_SQL} "
            "ORDER BY split_version DESC, computed_at DESC LIMIT 1"
        ).fetchone()
        more_data = con.execute(
            "SELECT curve, verdict FROM learning_curve_forecasts "
            f"WHERE slice_column = {OVERALL_COLUMN_SQL} AND curve IN ('dev', 'variance') "
            "QUALIFY rank() OVER (ORDER BY split_version DESC, computed_at DESC) = 1 "
            "ORDER BY curve DESC"
        ).fetchall()
        shift = _newest_shift(con)
    table = Table(title="Bayesline summary")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("rows ingested", f"{loaded:,}")
    table.add_row("rows rejected (see rejected_rows)", f"{rejected:,}")
    if versions:
        latest = versions[-1]
        table.add_row("split version", f"v{latest['version']}")
        for split in SPLITS:
            table.add_row(f"  {split}", f"{latest[f'n_{split}']:,}")
    if overall:
        model, human_source, *errors, problems, _ = overall
        table.add_row("model", model)
        table.add_row("human-level from", human_source)
        for stage, error in zip(
            ("human-level", *SPLIT_DISPLAY_NAMES.values()), errors, strict=True
        ):
            table.add_row(f"  {stage} error", "-" if error is None else f"{error:.1%}")
        table.add_row("work on", (problems or "nothing material").replace("_", " "))
    for curve, verdict in more_data:  # the learning curves' forecasts
        what = "to halve variance" if curve == "variance" else "to reach human-level"
        table.add_row(f"more data {what}", verdict)
    console.print(table)
    if overall and overall[-1]:
        console.print(f"Train error: on {overall[-1]}.")
    if shift is not None:  # the mismatch explainer's verdict and remedy
        console.print(mismatch_line(*shift))
    if overall:
        report = write_model_report(layout, config)
        console.print(f"Diagnosis report: {report}")
    _print_label_studio(console)
    console.print(
        "Next: [bold]make ui[/] opens the Dagster UI at http://127.0.0.1:3000; "
        '[bold]bayesline sql "SELECT * FROM diagnosis"[/] queries the warehouse; '
        + _catalog_advice(layout)
    )


def _count_rows(con: duckdb.DuckDBPyConnection, view: str) -> int:
    return fetch_count(con, f"SELECT count(*) FROM {view}")


def _catalog_advice(layout: WarehouseLayout) -> str:
    if layout.store.remote:  # its views name s3:// files, which a plain client cannot open
        return (
            f"in Python, warehouse.catalog.open_catalog opens {layout.catalog_path} with the "
            f"lake's filesystem ({layout.store.root}); a plain DuckDB client cannot read it."
        )
    return f"or open {layout.catalog_path} read-only from any DuckDB client."


def _newest_shift(con) -> tuple[dict, list[dict]] | None:
    """The newest distribution_shift row and its slice rows, if the explainer ran."""
    from evaluation.distribution_shift import stored_distribution_shift

    found = con.execute("SELECT max(split_version) FROM distribution_shift").fetchone()[0]
    shift = None if found is None else stored_distribution_shift(con, found)
    return None if shift is None else shift[:2]


def _print_label_studio(console: Console) -> None:
    from labeling.process import status
    from labeling.server_settings import LabelStudioSettings

    state = status(LabelStudioSettings.from_env())
    if state.running:
        console.print(
            f"Label Studio: {state.url} (log in as {state.username}; the password is in "
            f"{state.token_path}). Label the queued tasks there; `make stop` stops it."
        )
