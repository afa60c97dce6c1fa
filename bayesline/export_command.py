"""`bayesline export`: a verified split version, with its computed data card, as a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bayesline.console import checked_config, console, fail
from warehouse.layout import WarehouseLayout


def export_command(
    version: Annotated[
        str, typer.Option("--version", "-v", help="A split version: 3, v0003 or latest.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to write.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="parquet (default), jsonl or hf.")
    ] = "parquet",
    force: Annotated[
        bool, typer.Option("--force", help="Replace --out if it exists (swapped out whole).")
    ] = False,
) -> None:
    """Write a split version to a folder that datasets.load_dataset(DIR) opens, with a data
    card (README.md) computed from the warehouse."""
    from handoff.export import export_version

    config = checked_config()
    try:
        result = export_version(WarehouseLayout.from_env(), config, version, out, format, force)
    except ImportError as exc:  # the hf extra is missing; the message says how to install it
        raise fail(str(exc)) from exc
    console.print(result.message)
    console.print(
        f"Predictions of a model trained on it: `bayesline predictions add FILE "
        f"--model-version NAME --split-version {result.version}`."
    )
