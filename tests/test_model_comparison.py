"""Paired model comparison: McNemar and the paired interval checked by hand and against
scipy, planted differences found where they are, and bad requests refused."""

from __future__ import annotations

import json
import math
import random

import pytest
from scipy.stats import binomtest  # type: ignore[import-untyped]  # no stubs installed

from evaluation.comparison import (
    IMPROVED,
    NO_DIFFERENCE,
    REGRESSED,
    ComparisonError,
    ModelRef,
    compare_models,
    resolve_model,
)
from evaluation.predictions import register_predictions
from evaluation.stats import (
    mcnemar_exact_p_value,
    minimum_detectable_difference,
    paired_difference_interval,
)
from tests.conftest import write_csv
from tests.test_predictions import split_examples, write_predictions_csv
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.ingest import ingest_landing_files
from warehouse.splits import publish_split_version

DEVICES = ("ios", "android", "web")


@pytest.mark.parametrize(
    ("b", "c", "by_hand"),
    [
        (3, 0, 2 / 8),  # n = 3: 2 * P(X <= 0) = 2 / 2^3
        (2, 8, 2 * (1 + 10 + 45) / 1024),  # n = 10: 2 * (C(10,0) + C(10,1) + C(10,2)) / 2^10
        (12, 3, 2 * (1 + 15 + 105 + 455) / 2**15),  # n = 15, min 3
        (7, 7, 1.0),  # balanced: no evidence either way
        (0, 0, 1.0),  # no discordant pair
    ],
)
def test_exact_mcnemar_matches_the_hand_computation_and_scipy(b, c, by_hand):
    assert mcnemar_exact_p_value(b, c) == pytest.approx(by_hand, rel=1e-12)
    if b + c:
        assert mcnemar_exact_p_value(b, c) == pytest.approx(
            binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-12
        )


@pytest.mark.parametrize(("b", "c"), [(100, 130), (5_000, 5_200), (40, 95), (0, 30)])
def test_exact_mcnemar_agrees_with_scipy_on_larger_samples(b, c):
    expected = binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact_p_value(b, c) == pytest.approx(expected, rel=1e-9)


def test_the_paired_interval_is_bonett_price_by_hand():
    # b = 2 only-A errors, c = 8 only-B errors in n = 50 pairs: add 1 to each, 2 to n.
    p1, p2 = 3 / 52, 9 / 52
    half = 1.959963984540054 * math.sqrt((p1 + p2 - (p2 - p1) ** 2) / 52)
    low, high = paired_difference_interval(2, 8, 50)
    assert (low, high) == pytest.approx((6 / 52 - half, 6 / 52 + half))
    assert low < (8 - 2) / 50 < high
    zero_low, zero_high = paired_difference_interval(0, 0, 1000)
    assert zero_low < 0 < zero_high  # no discordant pair still leaves an interval


def test_the_minimum_detectable_difference_shrinks_with_the_sample():
    small, large = minimum_detectable_difference(20, 200), minimum_detectable_difference(200, 2000)
    assert large < small
    # (z_0.975 + z_0.8) * sqrt(0.1 / 200)
    assert small == pytest.approx((1.959963984540054 + 0.8416212335729143) * math.sqrt(0.1 / 200))


@pytest.fixture
def target(layout, small_config):
    """3,000 target reviews on three devices (dev and test ~900 each) and training reviews."""
    app = [
        (f"a{i:04d}", f"ua{i}", "neg" if i % 3 else "pos", f"app review {i}", DEVICES[i % 3])
        for i in range(3000)
    ]
    web = [(f"w{i:03d}", f"uw{i}", "pos", f"web review {i}", "web") for i in range(200)]
    write_csv(layout.landing / "app" / "batch.csv", app)
    write_csv(layout.landing / "web" / "batch.csv", web)
    ingest_landing_files(layout, small_config)
    version = publish_split_version(layout, small_config).version
    return version, split_examples(layout, small_config, version)


def device_of(example_id: str) -> str:
    return DEVICES[int(example_id[1:]) % 3] if example_id.startswith("a") else "web"


def predictions(examples, wrong) -> list[tuple]:
    """dev + test predictions, wrong where wrong(index, example_id) says so."""
    flip = {"neg": "pos", "pos": "neg"}
    return [
        (eid, flip[label] if wrong(i, eid) else label, 0.8)
        for i, (eid, split, label) in enumerate(examples)
        if split in ("dev", "test")
    ]


def register(layout, config, tmp_path, name, rows, version=1) -> ModelRef:
    path = write_predictions_csv(tmp_path / f"{name}.csv", rows)
    register_predictions(layout, config, path, name, version)
    return ModelRef(name, version)


def champion_wrong(i: int, _eid: str) -> bool:
    return i % 5 == 0  # 20% error everywhere


def test_a_model_better_on_one_slice_is_an_improvement_there_and_on_no_other_slice(
    layout, small_config, target, tmp_path
):
    _, examples = target
    a = register(layout, small_config, tmp_path, "champion", predictions(examples, champion_wrong))
    better = predictions(
        examples,
        lambda i, eid: i % 25 == 0 if device_of(eid) == "android" else champion_wrong(i, eid),
    )
    b = register(layout, small_config, tmp_path, "android-fix", better)
    comparison = compare_models(layout, small_config, a, b)
    improved = {(r["split"], r["slice_value"]) for r in comparison.rows_with(IMPROVED)}
    slices = {(s, v) for s, v in improved if v != "all"}
    assert slices == {("dev", "android"), ("test", "android")}
    assert not comparison.rows_with(REGRESSED) and comparison.verdict == IMPROVED
    assert comparison.rows[0]["verdict"] == IMPROVED  # significant rows come first
    android = next(
        r for r in comparison.rows if (r["split"], r["slice_value"]) == ("dev", "android")
    )
    assert android["b_only_errors"] == 0 and android["a_only_errors"] > 0
    assert android["difference"] < 0 and android["ci_high"] < 0
    assert comparison.gap_changes["dev_overfitting"] is not None
    assert comparison.gap_changes["avoidable_bias"] is None  # no train predictions


def test_a_copy_of_the_champion_with_a_few_random_flips_is_no_detectable_difference(
    layout, small_config, target, tmp_path
):
    _, examples = target
    rows = predictions(examples, champion_wrong)
    a = register(layout, small_config, tmp_path, "champion", rows)
    flip = {"neg": "pos", "pos": "neg"}
    copy = list(rows)
    for i in random.Random(12).sample(range(len(copy)), 6):
        eid, label, score = copy[i]
        copy[i] = (eid, flip[label], score)
    b = register(layout, small_config, tmp_path, "champion-copy", copy)
    comparison = compare_models(layout, small_config, a, b)
    assert comparison.verdict == NO_DIFFERENCE
    assert {r["verdict"] for r in comparison.rows} == {NO_DIFFERENCE}
    dev = next(r for r in comparison.rows if (r["split"], r["slice_column"]) == ("dev", "overall"))
    assert 0 < dev["min_detectable_difference"] < 0.1
    assert dev["ci_low"] < 0 < dev["ci_high"] or dev["a_only_errors"] + dev["b_only_errors"] == 0


def test_a_regression_is_stored_and_listed_with_its_slices(layout, small_config, target, tmp_path):
    _, examples = target
    a = register(layout, small_config, tmp_path, "champion", predictions(examples, champion_wrong))
    worse = predictions(
        examples, lambda i, eid: i % 2 == 0 if device_of(eid) == "ios" else champion_wrong(i, eid)
    )
    b = register(layout, small_config, tmp_path, "ios-broken", worse)
    comparison = compare_models(layout, small_config, a, b)
    assert comparison.verdict == REGRESSED
    assert {(r["split"], r["slice_value"]) for r in comparison.regressions} >= {
        ("dev", "ios"),
        ("test", "ios"),
    }
    with open_reader(layout, small_config) as con:
        summary = fetch_dicts(con, "SELECT * FROM model_comparison_summaries")
        stored = con.execute(
            "SELECT count(*) FROM model_comparisons WHERE model_b = 'ios-broken'"
        ).fetchone()[0]
    assert stored == len(comparison.rows)
    assert summary[0]["verdict"] == REGRESSED
    assert "dev: device = ios" in json.loads(summary[0]["regressed_slices"])
    assert summary[0]["n_compared"] == sum(1 for _, s, _ in examples if s in ("dev", "test"))


def test_across_split_versions_only_examples_in_both_are_compared_and_the_rest_counted(
    layout, small_config, target, tmp_path
):
    _, examples = target
    a = register(layout, small_config, tmp_path, "old", predictions(examples, champion_wrong))
    late = [(f"late{i}", f"ul{i}", "neg", f"late app review {i}", "ios") for i in range(300)]
    write_csv(layout.landing / "app" / "late.csv", late)
    ingest_landing_files(layout, small_config)
    v2 = publish_split_version(layout, small_config).version
    examples_v2 = split_examples(layout, small_config, v2)
    b = register(
        layout, small_config, tmp_path, "new", predictions(examples_v2, champion_wrong), v2
    )
    assert resolve_model(layout, "new", None) == ModelRef("new", 2)
    comparison = compare_models(layout, small_config, a, b)
    shared = sum(1 for _, s, _ in examples if s in ("dev", "test"))
    new_in_dev_test = sum(1 for e, s, _ in examples_v2 if s in ("dev", "test")) - shared
    assert comparison.n_compared == shared
    assert comparison.left_out == {"predicted by new (v2) only": new_in_dev_test}


def test_bad_comparisons_get_a_one_line_error_and_nothing_is_written(
    layout, small_config, target, tmp_path
):
    _, examples = target
    a = register(layout, small_config, tmp_path, "dev-model", predictions(examples, champion_wrong))
    dev_only = [r for r in predictions(examples, champion_wrong) if r[0] in _ids(examples, "dev")]
    test_only = [r for r in predictions(examples, champion_wrong) if r[0] in _ids(examples, "test")]
    d = register(layout, small_config, tmp_path, "d", dev_only)
    t = register(layout, small_config, tmp_path, "t", test_only)
    partial = compare_models(layout, small_config, a, d)
    assert partial.n_compared == len(dev_only)
    assert partial.left_out == {"predicted by dev-model (v1) only": len(test_only)}
    with pytest.raises(ComparisonError, match="compared with itself"):
        compare_models(layout, small_config, a, a)
    with pytest.raises(ComparisonError, match="share no example"):
        compare_models(layout, small_config, d, t)
    with pytest.raises(
        ComparisonError, match=r"unknown model version 'nope'; registered: d, dev-model, t"
    ):
        resolve_model(layout, "nope", None)
    with pytest.raises(ComparisonError, match="has no predictions on split version 3"):
        resolve_model(layout, "d", 3)
    stored = list((layout.evaluation_dir / "model_comparisons").glob("*.parquet"))
    assert [p.name for p in stored] == ["dev-model__v0001__vs__d__v0001.parquet"]


def _ids(examples, split: str) -> set[str]:
    return {e for e, s, _ in examples if s == split}
