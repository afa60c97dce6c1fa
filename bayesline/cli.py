"""The `bayesline` command line."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import duckdb
import typer
from rich.table import Table
from typer.core import TyperGroup

from bayesline.batches_commands import batches_app
from bayesline.console import checked_config, console, fail, reported_errors
from bayesline.diagnose_command import diagnose_command
from bayesline.export_command import export_command
from bayesline.labelstudio_commands import (
    labelstudio_app,
    labelstudio_install,
    labelstudio_start,
)
from bayesline.models_commands import compare_command, models_app
from bayesline.runs_commands import runs_app
from bayesline.team_commands import team_app
from warehouse.catalog import (
    WAREHOUSE_VIEWS,
    execute_read_only,
    open_reader,
)
from warehouse.layout import WarehouseLayout
from warehouse.split_names import SPLIT_DISPLAY_NAMES
from warehouse.storage import configured_memory_limit, out_of_memory_advice
from warehouse.versions import (
    diff_versions,
    list_versions,
    load_manifest,
    parse_version,
)

if TYPE_CHECKING:
    # TyperGroup.invoke takes the Context of the click that typer vendors, which typer does
    # not export; the click package installed beside it is another one.
    from typer._click import Context


class ReportingGroup(TyperGroup):
    """The root command group: every command's errors are reported by `reported_errors`."""

    def invoke(self, ctx: Context) -> object:
        with reported_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=ReportingGroup,
    help="Bayesline: one warehouse, splits from the target distribution, human-level baselines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
splits_app = typer.Typer(help="Published split versions.", no_args_is_help=True)
app.add_typer(splits_app, name="splits")
predictions_app = typer.Typer(help="Model predictions on split versions.", no_args_is_help=True)
app.add_typer(predictions_app, name="predictions")
review_app = typer.Typer(help="Probable label errors found by annotators.", no_args_is_help=True)
app.add_typer(review_app, name="review")
app.command("diagnose")(diagnose_command)
app.command("export")(export_command)
app.add_typer(labelstudio_app, name="labelstudio")
app.command("compare")(compare_command)
app.add_typer(models_app, name="models")
app.add_typer(batches_app, name="batches")
app.add_typer(runs_app, name="runs")
app.add_typer(team_app, name="team")


_config = checked_config


def _reader():
    layout = WarehouseLayout.from_env()
    return open_reader(layout, _config()), layout


@app.command()
def materialize(
    select: Annotated[
        str | None,
        typer.Option(
            "--select", help="Dagster asset selection, e.g. 'examples' or '*published_splits'."
        ),
    ] = None,
) -> None:
    """Materialise the pipeline (or a selection) with the project's Dagster definitions."""
    from bayesline.runner import run_pipeline

    _config()  # a config error is said in one line before any run starts
    if not run_pipeline(select, console):
        raise typer.Exit(1)  # run_pipeline said why in one line


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A read-only SQL query over the warehouse views.")],
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
    limit: Annotated[int, typer.Option(help="Rows shown in table format.")] = 100,
) -> None:
    """Run read-only SQL against the warehouse (works while a pipeline run is writing)."""
    if format not in ("table", "csv", "json"):
        raise fail(f"unknown format '{format}': use table, csv or json")
    con, _ = _reader()
    try:
        cursor = execute_read_only(con, query)
    except duckdb.OutOfMemoryException as exc:
        raise fail(f"{out_of_memory_advice(configured_memory_limit())}.\n{exc}") from exc
    except duckdb.Error as exc:
        raise fail(f"{exc}\nViews: {', '.join(WAREHOUSE_VIEWS)}") from exc
    if cursor.description is None:
        return
    header = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
    elif format == "json":
        typer.echo(
            json.dumps([dict(zip(header, r, strict=True)) for r in rows], default=str, indent=2)
        )
    else:
        _print_table(header, rows[:limit])
        if len(rows) > limit:
            console.print(f"[dim]{len(rows) - limit:,} more rows; use --limit or --format csv[/]")


def _print_table(header: list[str], rows: list[tuple], title: str | None = None) -> None:
    table = Table(title=title)
    for name in header:
        table.add_column(name)
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    console.print(table)


@splits_app.command("list")
def splits_list() -> None:
    """Every published version with its split sizes."""
    con, _ = _reader()
    versions = list_versions(con)
    if not versions:
        console.print("No split version published yet: run `bayesline materialize`.")
        return
    columns = {
        "version": "version",
        "created_at": "created (UTC)",
        **{f"n_{split}": name for split, name in SPLIT_DISPLAY_NAMES.items()},
        "n_added": "added",
        "n_removed": "removed",
        "n_excluded": "excluded",
    }
    rows = [
        tuple(f"{v[k]:%Y-%m-%d %H:%M}" if k == "created_at" else v[k] for k in columns)
        for v in versions
    ]
    _print_table(list(columns.values()), rows, "Split versions")


@splits_app.command("show")
def splits_show(version: str) -> None:
    """A version's manifest: counts by split, source and label, realised split fractions and
    why they differ from the configured ones, files and their sha256."""
    _, layout = _reader()
    manifest = load_manifest(layout, parse_version(version))
    console.print_json(json.dumps(manifest))


@splits_app.command("diff")
def splits_diff(old: str, new: str) -> None:
    """Examples added, removed, changed (and moved, always 0) between two versions."""
    con, layout = _reader()
    old_v, new_v = parse_version(old), parse_version(new)
    load_manifest(layout, old_v), load_manifest(layout, new_v)  # unknown versions: an error
    diff = diff_versions(con, old_v, new_v)
    _print_table(
        ["split", f"v{old_v}", f"v{new_v}", "delta"],
        [(s, a, b, b - a) for s, (a, b) in diff.counts.items()],
        f"v{old_v} -> v{new_v}",
    )
    console.print(
        f"added {diff.added:,}, removed {diff.removed:,}, changed {diff.changed:,}, "
        f"moved between splits {diff.moved:,}"
    )
    if diff.sample_added:
        console.print(f"[dim]added e.g.: {', '.join(diff.sample_added)}[/]")
    if diff.sample_removed:
        console.print(f"[dim]removed e.g.: {', '.join(diff.sample_removed)}[/]")


@predictions_app.command("add")
def predictions_add(
    file: Annotated[
        Path, typer.Argument(help="Parquet or CSV: example_id, predicted_label[, score]")
    ],
    model_version: Annotated[
        str, typer.Option("--model-version", "-m", help="e.g. resnet-2026-11")
    ],
    split_version: Annotated[str, typer.Option("--split-version", "-s", help="e.g. 3 or v0003")],
) -> None:
    """Register your own model's predictions on a published split version."""
    from evaluation.predictions import register_predictions
    from warehouse.catalog import refresh_catalog

    config, layout = _config(), WarehouseLayout.from_env()
    summary = register_predictions(
        layout, config, file, model_version, parse_version(split_version)
    )
    refresh_catalog(layout, config)
    console.print(summary.message)
    console.print("Next: `bayesline materialize --select slice_metrics+`, then `bayesline report`.")


@predictions_app.command("list")
def predictions_list() -> None:
    """Registered model versions and the split version each was evaluated on."""
    con, _ = _reader()
    rows = con.execute(
        "SELECT model_version, split_version, count(*) AS predictions FROM predictions "
        "GROUP BY ALL ORDER BY split_version, model_version"
    ).fetchall()
    _print_table(["model version", "split version", "predictions"], rows, "Predictions")


@review_app.command("list")
def review_list() -> None:
    """Examples whose annotators confidently agree against the gold label."""
    con, _ = _reader()
    rows = con.execute(
        "SELECT example_id, split, gold_label, consensus_label, round(confidence, 3), votes "
        "FROM label_review WHERE status = 'proposed' ORDER BY confidence DESC"
    ).fetchall()
    _print_table(["example", "split", "gold", "consensus", "confidence", "votes"], rows, "Review")


@review_app.command("accept")
def review_accept(
    example_ids: Annotated[list[str], typer.Argument(help="Proposed examples to relabel.")],
) -> None:
    """Accept corrections: the next split version carries the new labels (same splits)."""
    from labeling.pipeline import record_accepted_corrections
    from labeling.review import NotProposedError

    try:
        corrections = record_accepted_corrections(
            WarehouseLayout.from_env(), _config(), example_ids
        )
    except NotProposedError as exc:
        raise fail(f"{exc}; see `bayesline review list`") from exc
    console.print(
        f"{len(corrections)} correction(s) accepted; `bayesline materialize` publishes them "
        "in the next split version."
    )


@app.command()
def report(
    model_version: Annotated[str | None, typer.Option("--model-version", "-m")] = None,
    split_version: Annotated[str | None, typer.Option("--split-version", "-s")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file to write")
    ] = None,
) -> None:
    """Write the self-contained HTML diagnosis report of an evaluated model version."""
    from evaluation.pipeline import write_model_report

    config, layout = _config(), WarehouseLayout.from_env()
    version = parse_version(split_version) if split_version else None
    path = write_model_report(layout, config, model_version, version, output)
    console.print(f"Report written to {path}")


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the demo data generator.")] = 7,
    labelstudio: Annotated[
        bool, typer.Option(help="Start Label Studio and queue the weak slices for people.")
    ] = True,
    images: Annotated[
        bool,
        typer.Option(
            "--images",
            help="The image demo: handwritten digits as PNGs, scanned (training) and "
            "photographed by phones (target), with its own config in BAYESLINE_HOME.",
        ),
    ] = False,
) -> None:
    """Generate the bundled demo data and run the whole pipeline on it."""
    from bayesline.runner import print_summary, run_pipeline

    layout = WarehouseLayout.from_env().ensure()
    if images:
        _image_demo_data(layout, seed)
    else:
        _text_demo_data(layout, seed)
    if labelstudio:
        labelstudio_install()
        labelstudio_start()
    if not run_pipeline(None, console):
        raise typer.Exit(1)  # run_pipeline said why in one line
    print_summary(console)


def _text_demo_data(layout: WarehouseLayout, seed: int) -> None:
    from bayesline.demo import generate_demo_data

    _config()  # a config error is said in one line before any run starts
    console.rule("Bayesline demo")
    summary = generate_demo_data(layout.landing, seed=seed)
    console.print(f"Demo data: {len(summary.files)} landing files under {layout.landing}")


def _image_demo_data(layout: WarehouseLayout, seed: int) -> None:
    """Write the image demo and point this process (its run, its summary) at its config."""
    from bayesline.demo.images import IMAGE_SOURCES, generate_image_demo

    others = sorted(
        p.name for p in layout.landing.iterdir() if p.is_dir() and p.name not in IMAGE_SOURCES
    )
    if others:
        raise fail(
            f"{layout.home} already holds other landing data ({', '.join(others)}): run the "
            "image demo in a fresh home, e.g. BAYESLINE_HOME=data-images bayesline demo --images"
        )
    console.rule("Bayesline image demo")
    summary = generate_image_demo(layout.home, seed=seed)
    os.environ["BAYESLINE_CONFIG"] = str(summary.config_path)
    _config()
    counts = ", ".join(f"{n:,} {source}" for source, n in summary.n_images.items())
    console.print(
        f"Demo images: {counts} rows under {layout.home / 'images'} ({len(summary.never_copied)} "
        f"name images never copied); config: {summary.config_path}. Other commands read it "
        f"with BAYESLINE_CONFIG={summary.config_path}"
    )


def main() -> None:
    """The `bayesline` console command."""
    with reported_errors():  # also what escapes the commands' group (startup, the app itself)
        app()


if __name__ == "__main__":  # pragma: no cover
    main()
