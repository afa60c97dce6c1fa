"""An image dataset through the user's path (the CLI on a real Dagster instance): green runs,
the diagnosis, and the baseline's say on what it could use."""

from __future__ import annotations

import csv

import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from tests.image_datasets import image_config_toml, write_image_dataset
from warehouse.catalog import open_reader
from warehouse.config import load_config

pytestmark = pytest.mark.slow
runner = CliRunner()


def bayesline(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def image_home(layout, tmp_path, monkeypatch):
    config = tmp_path / "bayesline.toml"
    config.write_text(image_config_toml(), encoding="utf-8")
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config))
    return layout


def test_without_a_fitting_baseline_the_run_is_green_and_waits_for_predictions(
    image_home, tmp_path
):
    layout = image_home
    write_image_dataset(layout.home, n_per_source=90, missing=("images/field/lost 1.png",))
    first = bayesline("materialize")
    assert first.exit_code == 0, first.output
    lines = {line.split(" (")[0]: line for line in first.output.splitlines()}
    skipped = lines["materialised baseline_predictions"]
    assert "no built-in baseline reads this payload (image_path)" in skipped
    assert "bayesline predictions add" in skipped
    for waiting in ("slice_metrics", "low_performing_slices", "diagnosis"):
        assert "waiting for predictions on split v1" in lines[f"materialised {waiting}"]
    with open_reader(layout, load_config()) as con:
        rejected = con.execute("SELECT error_type, reason FROM rejected_rows").fetchall()
        dev = con.execute(
            "SELECT example_id, label, camera FROM splits WHERE version = 1 AND split = 'dev'"
        ).fetchall()
    assert [(kind, "images/field/lost 1.png" in why) for kind, why in rejected] == [
        ("unreadable_image", True)
    ]

    # The team's own model: right on cam-a, wrong on every other cam-b example.
    predictions = tmp_path / "mine.csv"
    with predictions.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["example_id", "predicted_label"])
        for n, (example_id, label, camera) in enumerate(sorted(dev)):
            wrong = camera == "cam-b" and n % 2 == 0
            flipped = {"rows": "columns", "columns": "rows"}[label]
            writer.writerow([example_id, flipped if wrong else label])
    added = bayesline("predictions", "add", str(predictions), "-m", "mine-1", "-s", "1")
    assert added.exit_code == 0, added.output
    second = bayesline("materialize", "--select", "slice_metrics+")
    assert second.exit_code == 0, second.output
    assert "waiting for predictions" not in second.output
    with open_reader(layout, load_config()) as con:
        diagnosed = con.execute(
            "SELECT slice_column, slice_value, dev_error FROM diagnosis "
            "WHERE model_version = 'mine-1' ORDER BY slice_column"
        ).fetchall()
    errors = {(column, value): error for column, value, error in diagnosed}
    assert errors[("camera", "cam-a")] == 0.0
    assert errors[("camera", "cam-b")] > 0.3
