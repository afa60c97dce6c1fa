"""`bayesline review accept` from the command line: an accepted proposal becomes one correction
row in the lake; an example that was never proposed is refused in one line, writing nothing."""

from __future__ import annotations

import duckdb
from typer.testing import CliRunner

from bayesline.cli import app
from warehouse.layout import WarehouseLayout
from warehouse.schema import LABEL_REVIEW_COLUMNS
from warehouse.storage import write_local_records

runner = CliRunner()


def review_row(example_id: str, status: str, gold: str, consensus: str) -> dict:
    return {
        "split_version": 3,
        "example_id": example_id,
        "split": "dev",
        "gold_label": gold,
        "consensus_label": consensus,
        "confidence": 0.97,
        "consensus_method": "dawid_skene",
        "n_annotators": 4,
        "votes": '{"neg": 4}',
        "status": status,
    }


def corrections(layout: WarehouseLayout) -> list[tuple]:
    folder = layout.labeling_dir / "corrections"
    if not folder.exists() or not any(folder.glob("*.parquet")):
        return []
    with duckdb.connect() as con:
        return con.execute(
            "SELECT example_id, split_version, old_label, new_label, reason "
            f"FROM read_parquet('{folder}/*.parquet') ORDER BY example_id"
        ).fetchall()


def test_review_accept_records_the_correction_and_refuses_what_was_not_proposed(
    layout: WarehouseLayout,
) -> None:
    rows = [
        review_row("rev-17", "proposed", "pos", "neg"),
        review_row("rev-42", "proposed", "neg", "pos"),
        review_row("rev-99", "accepted", "pos", "neg"),
    ]
    write_local_records(
        LABEL_REVIEW_COLUMNS, rows, layout.labeling_dir / "review" / "v0003.parquet"
    )

    refused = runner.invoke(app, ["review", "accept", "rev-42", "rev-99", "nope"])
    assert refused.exit_code != 0
    message = [line for line in refused.output.splitlines() if line.strip()]
    assert len(message) == 1, refused.output
    assert "rev-99, nope" in message[0] and "bayesline review list" in message[0]
    assert corrections(layout) == []

    accepted = runner.invoke(app, ["review", "accept", "rev-42", "rev-42"])
    assert accepted.exit_code == 0, accepted.output
    assert "1 correction(s) accepted" in accepted.output
    [(example_id, version, old, new, reason)] = corrections(layout)
    assert (example_id, version, old, new) == ("rev-42", 3, "neg", "pos")
    assert reason.startswith("dawid_skene consensus of 4 annotators")
