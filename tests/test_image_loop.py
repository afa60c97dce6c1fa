"""An image dataset through the user's path (the CLI on a real Dagster instance): green runs,
the diagnosis, and the baseline's say on what it could use."""

from __future__ import annotations

import csv

import dagster as dg
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


def use_config(tmp_path, monkeypatch, text: str) -> None:
    config = tmp_path / "bayesline.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config))


def output_lines(output: str) -> dict[str, str]:
    return {line.split(" (")[0]: line for line in output.splitlines()}


def test_without_a_fitting_baseline_the_run_is_green_and_waits_for_predictions(
    layout, tmp_path, monkeypatch
):
    # Train holds only the lab's striped rows (no field example goes to train): no built-in
    # baseline can learn from one label, and the run must not depend on one.
    use_config(tmp_path, monkeypatch, image_config_toml(target_train=0.0))
    write_image_dataset(
        layout.home, n_per_source=90, missing=("images/field/lost 1.png",), lab_patterns=("rows",)
    )
    first = bayesline("materialize")
    assert first.exit_code == 0, first.output
    lines = output_lines(first.output)
    skipped = lines["materialised baseline_predictions"]
    assert "examples and 1 label(s): the baseline needs at least two labels" in skipped
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


def test_an_image_dataset_runs_green_end_to_end_with_the_image_baseline(
    layout, tmp_path, monkeypatch
):
    use_config(tmp_path, monkeypatch, image_config_toml())
    write_image_dataset(layout.home, n_per_source=240, missing=("images/lab/never copied.png",))
    run = bayesline("materialize")
    assert run.exit_code == 0, run.output
    assert "skipped" not in output_lines(run.output)["materialised baseline_predictions"]
    with open_reader(layout, load_config()) as con:
        rejected = con.execute("SELECT error_type, reason FROM rejected_rows").fetchall()
        diagnosed = con.execute(
            "SELECT slice_column, slice_value, dev_error, problems FROM diagnosis "
            "WHERE model_version = 'baseline-pixels-sgd-v0001'"
        ).fetchall()
    assert [(kind, "images/lab/never copied.png" in why) for kind, why in rejected] == [
        ("unreadable_image", True)
    ]
    errors = {(column, value): error for column, value, error, _ in diagnosed}
    # The field's cam-b shots are the noisiest: the slice the baseline finds hardest.
    assert errors[("camera", "cam-b")] > errors[("camera", "cam-a")]
    assert errors[("overall", "all")] < 0.3
    report = bayesline("report")
    assert report.exit_code == 0, report.output
    (written,) = layout.reports_dir.glob("*.html")
    html = written.read_text(encoding="utf-8")
    assert "The built-in baseline, reading the images of image_path (grey 16x16 pixels)" in html
    # Thumbnails of the worst slice, inline, in the report and in the diagnosis's metadata.
    worst = html.split("<section id='worst-slice-images'")[1].split("</section>")[0]
    assert "Examples of the worst slice: camera = cam-b" in worst
    assert 1 <= worst.count("<img src='data:image/png;base64,") <= 6
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("diagnosis"))
    metadata = event.asset_materialization.metadata
    shown = metadata["worst_slice_images"].value
    assert shown.startswith("**camera = cam-b**") and "(data:image/png;base64," in shown
