import json
from datetime import datetime

import pytest

from evaluation.diagnosis_table import HumanLevel, diagnose_slices, human_levels_from_config

NOW = datetime(2026, 1, 1)


def metric(split, column, value, n, errors):
    return {
        "split": split,
        "slice_column": column,
        "slice_value": value,
        "n": n,
        "errors": errors,
        "error_rate": errors / n,
    }


def rows_for(column, value, train, train_dev, dev, test, n=4000):
    return [
        metric(split, column, value, n, round(rate * n))
        for split, rate in (
            ("train", train),
            ("train_dev", train_dev),
            ("dev", dev),
            ("test", test),
        )
    ]


def test_each_slice_gets_its_own_verdict_with_the_overall_row_first():
    metrics = [
        *rows_for("channel", "ios", 0.02, 0.025, 0.15, 0.15),  # mismatch on ios
        *rows_for("overall", "all", 0.09, 0.095, 0.10, 0.10),  # bias overall (9 - 1 points)
    ]
    rows, overall = diagnose_slices(
        metrics,
        human_levels_from_config(0.01),
        model_version="m",
        split_version=1,
        computed_at=NOW,
    )
    assert [(r["slice_column"], r["slice_value"]) for r in rows] == [
        ("overall", "all"),
        ("channel", "ios"),
    ]
    assert overall.problems == ["avoidable_bias"]
    assert rows[0]["avoidable_bias"] == pytest.approx(0.08)
    assert rows[1]["problems"] == "data_mismatch"
    assert rows[1]["human_level_source"] == "configured (overall value)"
    assert "data_mismatch" in json.loads(rows[1]["remedies"])


def test_a_slice_human_level_overrides_the_configured_one():
    metrics = [
        *rows_for("overall", "all", 0.05, 0.05, 0.05, 0.05),
        *rows_for("lang", "de", 0.20, 0.20, 0.21, 0.21),
    ]
    humans = {
        **human_levels_from_config(0.01),
        ("lang", "de"): HumanLevel(0.19, 300, "human_baselines"),
    }
    rows, _ = diagnose_slices(metrics, humans, model_version="m", split_version=1, computed_at=NOW)
    german = rows[1]
    assert german["human_level_error"] == 0.19 and german["human_level_source"] == "human_baselines"
    assert "avoidable_bias" not in german["problems"]  # 20% train vs 19% humans: not material


def test_without_a_configured_human_level_zero_is_assumed_and_said():
    rows, _ = diagnose_slices(
        rows_for("overall", "all", 0.05, 0.05, 0.06, 0.06),
        {},
        model_version="m",
        split_version=1,
        computed_at=NOW,
    )
    assert rows[0]["human_level_source"].startswith("assumed 0")


def test_slice_metrics_without_an_overall_row_are_refused():
    with pytest.raises(ValueError, match="no slice metrics"):
        diagnose_slices(
            rows_for("lang", "de", 0.1, 0.1, 0.1, 0.1),
            {},
            model_version="m",
            split_version=1,
            computed_at=NOW,
        )
