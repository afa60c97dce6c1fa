"""Calibration of class probabilities: ECE checked by hand, and stored per split."""

from __future__ import annotations

import pytest

from evaluation.calibration import BINS, ece_by_split, expected_calibration_error
from evaluation.pipeline import analyse_slices, diagnose_model_version, write_model_report
from evaluation.predictions import register_predictions
from tests.test_predictions import (
    build_warehouse,
    simple_rows,
    split_examples,
    write_predictions_csv,
)
from warehouse.catalog import fetch_dicts, open_reader

HEADER = ["example_id", "predicted_label", "prob_neg", "prob_pos"]


def test_ece_is_the_n_weighted_gap_between_accuracy_and_confidence():
    bins = [
        {"split": "dev", "n": 10, "mean_confidence": 0.95, "accuracy": 0.8},  # gap 0.15
        {"split": "dev", "n": 30, "mean_confidence": 0.65, "accuracy": 0.7},  # gap 0.05
        {"split": "test", "n": 5, "mean_confidence": 0.6, "accuracy": 0.6},  # perfect
    ]
    # (10 * 0.15 + 30 * 0.05) / 40 = 3.0 / 40
    assert expected_calibration_error(bins) == pytest.approx({"dev": 0.075, "test": 0.0})


@pytest.fixture
def evaluated(layout, small_config, tmp_path):
    """A model 90% sure of every answer, right on 4 of 5 dev and on every test example."""
    version = build_warehouse(layout, small_config, *simple_rows())
    examples = split_examples(layout, small_config, version)
    rows, dev_seen = [], 0
    for eid, split, label in examples:
        if split not in ("dev", "test"):
            continue
        wrong = split == "dev" and dev_seen % 5 == 0
        dev_seen += split == "dev"
        predicted = ("pos" if label == "neg" else "neg") if wrong else label
        rows.append(
            (eid, predicted, 0.9 if predicted == "neg" else 0.1, 0.9 if predicted == "pos" else 0.1)
        )
    source = write_predictions_csv(tmp_path / "p.csv", rows, HEADER)
    register_predictions(layout, small_config, source, "sure", version)
    analyse_slices(layout, small_config, "sure", version)
    evaluation = diagnose_model_version(layout, small_config, "sure", version)
    n_dev = dev_seen
    dev_accuracy = 1 - len(range(0, n_dev, 5)) / n_dev
    return evaluation, dev_accuracy, version


def test_calibration_is_stored_per_split_and_bin_with_its_ece(layout, small_config, evaluated):
    evaluation, dev_accuracy, _ = evaluated
    with open_reader(layout, small_config) as con:
        rows = fetch_dicts(con, "SELECT * FROM calibration WHERE model_version = 'sure'")
    assert [(r["split"], r["bin"]) for r in rows] == [("dev", 9), ("test", 9)]  # 0.9 is bin 9
    by_split = {r["split"]: r for r in rows}
    assert by_split["dev"]["accuracy"] == pytest.approx(dev_accuracy)
    assert by_split["dev"]["ece"] == pytest.approx(abs(dev_accuracy - 0.9))
    assert by_split["test"]["ece"] == pytest.approx(0.1)  # always right, only 90% sure
    assert by_split["dev"]["bin_low"] == pytest.approx(9 / BINS)
    assert ece_by_split(evaluation.calibration) == [
        ("dev", by_split["dev"]["n"], pytest.approx(abs(dev_accuracy - 0.9))),
        ("test", by_split["test"]["n"], pytest.approx(0.1)),
    ]
    assert evaluation.reliability_path.read_bytes().startswith(b"\x89PNG")


def test_the_report_shows_calibration_only_for_models_with_probabilities(
    layout, small_config, evaluated, tmp_path
):
    _, _, version = evaluated
    html_text = write_model_report(layout, small_config, "sure", version).read_text()
    assert "<section id='calibration'>" in html_text
    assert "Expected calibration error" in html_text and "10.00 pp" in html_text
    examples = split_examples(layout, small_config, version)
    plain = [(eid, label, 0.7) for eid, split, label in examples if split == "dev"]
    source = write_predictions_csv(tmp_path / "plain.csv", plain)
    register_predictions(layout, small_config, source, "plain", version)
    analyse_slices(layout, small_config, "plain", version)
    diagnose_model_version(layout, small_config, "plain", version)
    plain_html = write_model_report(layout, small_config, "plain", version).read_text()
    assert "<section id='calibration'>" not in plain_html
