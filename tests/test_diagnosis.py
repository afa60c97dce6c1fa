"""Bias/variance diagnosis: the statistics, the verdicts, and the `diagnose` command.

Rates in the hand-worked cases are written in percent in the comments and as fractions in
code; "points" means percentage points.
"""

import json
import math

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bayesline.diagnose_command import diagnose_command
from evaluation.diagnosis import (
    CARVE_TRAIN_DEV,
    MINUS,
    REMEDIES,
    Diagnosis,
    ErrorRate,
    MaterialityRule,
    diagnose,
)
from evaluation.stats import (
    benjamini_hochberg,
    difference_interval,
    holm_adjust,
    one_sided_level,
    two_proportion_p_value,
    wilson_interval,
)


def run(human, train, dev, train_dev=None, test=None, **counts) -> Diagnosis:
    """Diagnose rates given in percent; counts as n_train=..., n_dev=... and so on."""

    def rate(percent, stage):
        return None if percent is None else ErrorRate(percent / 100, counts.get(f"n_{stage}"))

    return diagnose(
        human_level=rate(human, "human"),
        train=rate(train, "train"),
        dev=rate(dev, "dev"),
        train_dev=rate(train_dev, "train_dev"),
        test=rate(test, "test"),
    )


def verdicts(diagnosis: Diagnosis) -> dict[str, bool]:
    return {g.key: g.material for g in diagnosis.gaps}


# --- stats: known values ---------------------------------------------------------------------


def test_wilson_interval_for_8_errors_in_100_matches_the_hand_computation():
    # z = 1.959964, z² = 3.841459, p = 0.08, n = 100
    # centre = (p + z²/2n) / (1 + z²/n) = (0.08 + 0.019207) / 1.038415 = 0.095537
    # half   = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²)
    #        = 1.887457 * sqrt(0.000736 + 0.000096) = 1.887457 * 0.028845 = 0.054444
    # interval = (0.041093, 0.149981)
    lo, hi = wilson_interval(8, 100)
    assert lo == pytest.approx(0.041093, abs=1e-6)
    assert hi == pytest.approx(0.149981, abs=1e-6)


def test_wilson_interval_for_no_errors_starts_at_zero_and_ends_at_z2_over_n_plus_z2():
    # With p = 0 the centre equals the half-width, so the lower end is 0 and the upper end
    # is z²/(n + z²) = 3.841459 / 13.841459 = 0.277533 for n = 10.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-6))
    # Mirror image for 10 errors out of 10.
    assert wilson_interval(10, 10) == (pytest.approx(1 - 0.277533, abs=1e-6), 1.0)


@pytest.mark.parametrize(
    ("e1", "n1", "e2", "n2", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10, 95%:
        (48, 80, 56, 70, (0.0524, 0.3339)),  # 56/70 - 48/80 = 0.2
        (3, 10, 9, 10, (0.1705, 0.8090)),  # 9/10 - 3/10 = 0.6
        (0, 29, 5, 56, (-0.0381, 0.1926)),  # 5/56 - 0/29 = 0.0893
    ],
)
def test_newcombe_difference_interval_matches_the_published_examples(e1, n1, e2, n2, expected):
    lo, hi = difference_interval(e1, n1, e2, n2)
    assert (round(lo, 4), round(hi, 4)) == expected


def test_pooled_z_test_p_value_matches_the_hand_computation():
    # 80/1000 vs 100/1000: pooled p = 180/2000 = 0.09,
    # se = sqrt(0.09 * 0.91 * (1/1000 + 1/1000)) = sqrt(0.0001638) = 0.0127984,
    # z = (0.10 - 0.08) / 0.0127984 = 1.56270, one-sided p = 1 - Φ(1.56270) = 0.059063.
    greater = two_proportion_p_value(80, 1000, 100, 1000)
    assert greater == pytest.approx(0.059063, abs=1e-6)
    assert two_proportion_p_value(80, 1000, 100, 1000, "less") == pytest.approx(1 - greater)
    assert two_proportion_p_value(80, 1000, 100, 1000, "two-sided") == pytest.approx(2 * greater)


def test_p_value_is_one_when_neither_sample_varies():
    assert two_proportion_p_value(0, 50, 0, 80) == 1.0
    assert two_proportion_p_value(50, 50, 80, 80) == 1.0


def test_holm_multiplies_the_kth_smallest_p_by_m_minus_k_plus_1_and_keeps_order():
    # Sorted: 0.01, 0.03, 0.04 -> 3*0.01 = 0.03, 2*0.03 = 0.06, 1*0.04 = 0.04 -> max(0.06, 0.04)
    # = 0.06. Back in input order [0.01, 0.04, 0.03]: [0.03, 0.06, 0.06].
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_benjamini_hochberg_multiplies_by_m_over_rank_and_takes_the_running_minimum():
    # Sorted: 0.01, 0.03, 0.04 -> 3/1*0.01 = 0.03, 3/2*0.03 = 0.045, 3/3*0.04 = 0.04;
    # running minimum from the top: 0.04, min(0.045, 0.04) = 0.04, 0.03.
    # Back in input order [0.01, 0.04, 0.03]: [0.03, 0.04, 0.04].
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])


def test_a_one_sided_95_percent_bound_is_the_lower_end_of_a_90_percent_interval():
    assert one_sided_level(0.95) == 0.9
    with pytest.raises(ValueError):
        one_sided_level(0.5)


def test_counts_out_of_range_are_rejected():
    with pytest.raises(ValueError):
        wilson_interval(5, 0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


# --- stats: properties -----------------------------------------------------------------------

counts = st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
levels = st.sampled_from([0.8, 0.9, 0.95, 0.99])


@settings(max_examples=300, deadline=None)
@given(count=counts, confidence=levels)
def test_wilson_interval_holds_the_point_estimate_and_stays_in_0_1(count, confidence):
    errors, n = count
    lo, hi = wilson_interval(errors, n, confidence)
    assert 0.0 <= lo <= errors / n <= hi <= 1.0


@settings(max_examples=300, deadline=None)
@given(count=counts, factor=st.integers(2, 50))
def test_wilson_interval_narrows_with_more_examples_at_the_same_rate(count, factor):
    errors, n = count
    lo, hi = wilson_interval(errors, n)
    big_lo, big_hi = wilson_interval(errors * factor, n * factor)
    assert big_hi - big_lo < hi - lo


@settings(max_examples=300, deadline=None)
@given(first=counts, second=counts, confidence=levels)
def test_difference_interval_holds_the_difference_and_stays_in_minus_1_1(first, second, confidence):
    (e1, n1), (e2, n2) = first, second
    lo, hi = difference_interval(e1, n1, e2, n2, confidence)
    assert -1.0 <= lo <= e2 / n2 - e1 / n1 <= hi <= 1.0


@settings(max_examples=300, deadline=None)
@given(first=counts, second=counts, factor=st.integers(2, 50))
def test_difference_interval_narrows_with_more_examples(first, second, factor):
    (e1, n1), (e2, n2) = first, second
    lo, hi = difference_interval(e1, n1, e2, n2)
    big_lo, big_hi = difference_interval(e1 * factor, n1 * factor, e2 * factor, n2 * factor)
    assert big_hi - big_lo < hi - lo


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_adjusted_p_values_never_shrink_exceed_1_or_reorder(p_values):
    holm, bh = holm_adjust(p_values), benjamini_hochberg(p_values)
    for raw, h, b in zip(p_values, holm, bh, strict=True):
        assert raw <= b <= h <= 1.0
    by_raw = sorted(range(len(p_values)), key=lambda i: p_values[i])
    assert [holm[i] for i in by_raw] == sorted(holm)
    assert [bh[i] for i in by_raw] == sorted(bh)


# --- diagnosis: each verdict alone -----------------------------------------------------------


def test_a_large_train_minus_human_gap_alone_is_avoidable_bias():
    # human 1, train 8, train-dev 8.5, dev 9: bias 7, variance 0.5, mismatch 0.5.
    # 0.5 < 50% of 7 = 3.5, so only avoidable bias is material.
    d = run(1, 8, 9, train_dev=8.5)
    assert d.problems == ["avoidable_bias"]
    assert d.remedies == {"avoidable_bias": REMEDIES["avoidable_bias"]}
    assert d.gap("avoidable_bias").value == pytest.approx(0.07)


def test_a_large_train_dev_minus_train_gap_alone_is_variance():
    # human 1, train 1.5, train-dev 10, dev 10.5: bias 0.5, variance 8.5, mismatch 0.5.
    d = run(1, 1.5, 10.5, train_dev=10)
    assert d.problems == ["variance"]
    assert "Regularise: L2, dropout, data augmentation." in d.remedies["variance"]


def test_a_large_dev_minus_train_dev_gap_alone_is_data_mismatch():
    # human 1, train 1.5, train-dev 2, dev 10: bias 0.5, variance 0.5, mismatch 8.
    d = run(1, 1.5, 10, train_dev=2)
    assert d.problems == ["data_mismatch"]
    assert d.remedies["data_mismatch"] == REMEDIES["data_mismatch"]


def test_a_large_test_minus_dev_gap_alone_is_overfitting_to_dev():
    # human 1, train 1.5, train-dev 2, dev 2.5, test 9: three gaps of 0.5, dev overfitting 6.5.
    d = run(1, 1.5, 2.5, train_dev=2, test=9)
    assert d.problems == ["dev_overfitting"]
    assert "Get more dev data (a bigger dev set)." in d.remedies["dev_overfitting"]


# --- diagnosis: combinations -----------------------------------------------------------------


def test_bias_and_variance_can_both_be_problems():
    # human 1, train 8, train-dev 15, dev 16: bias 7, variance 7, mismatch 1 (< 3.5).
    d = run(1, 8, 16, train_dev=15)
    assert set(d.problems) == {"avoidable_bias", "variance"}
    assert verdicts(d)["data_mismatch"] is False


def test_bias_and_data_mismatch_are_listed_largest_first():
    # human 1, train 6, train-dev 6.5, dev 12: bias 5, variance 0.5, mismatch 5.5.
    # 5 >= 50% of 5.5 = 2.75, so both are material, mismatch first.
    d = run(1, 6, 12, train_dev=6.5)
    assert d.problems == ["data_mismatch", "avoidable_bias"]
    assert set(d.remedies) == {"data_mismatch", "avoidable_bias"}


def test_a_gap_half_the_largest_is_still_material_and_follows_it():
    # human 1, train 5.5, train-dev 14.5, dev 15.5: bias 4.5, variance 9, mismatch 1.
    # 50% of 9 = 4.5: bias (4.5) is material, mismatch (1) is not.
    d = run(1, 5.5, 15.5, train_dev=14.5)
    assert d.problems == ["variance", "avoidable_bias"]
    assert "at least 50% of the largest (9.0 points)" in d.gap("avoidable_bias").why
    # Just under half (bias 4.4 beside 9) is not.
    assert run(1, 5.4, 15.4, train_dev=14.4).problems == ["variance"]


# --- diagnosis: the size rules ---------------------------------------------------------------


def test_a_small_gap_next_to_a_much_larger_one_is_not_material():
    # human 1, train 1.6, train-dev 11.6, dev 11.6: bias 0.6, variance 10; 0.6 < 2.5.
    d = run(1, 1.6, 11.6, train_dev=11.6)
    assert verdicts(d)["avoidable_bias"] is False
    assert "under 50% of the largest gap (10.0 points)" in d.gap("avoidable_bias").why
    # The same 0.6-point gap on its own is material: only the comparison ruled it out.
    assert run(1, 1.6, 1.6, train_dev=1.6).problems == ["avoidable_bias"]


def test_gaps_under_half_a_point_are_never_material_and_half_a_point_is():
    # 1.4 - 1 = 0.4 < 0.5; 1.5 - 1 = 0.5 exactly (raw float subtraction gives 0.00499999...).
    assert run(1, 1.4, 1.4, train_dev=1.4).problems == []
    assert run(1, 1.5, 1.5, train_dev=1.5).problems == ["avoidable_bias"]


def test_a_custom_rule_changes_the_verdict_and_its_description():
    # human 1, train 5, train-dev 14, dev 15: bias 4 is 44% of variance 9: material at a
    # share of 40%, not at the default 50%.
    errors = {
        "human_level": ErrorRate(0.01),
        "train": ErrorRate(0.05),
        "train_dev": ErrorRate(0.14),
        "dev": ErrorRate(0.15),
    }
    assert diagnose(**errors).problems == ["variance"]
    lenient = diagnose(**errors, rule=MaterialityRule(relative_share=0.4))
    assert lenient.problems == ["variance", "avoidable_bias"]
    assert "at least 40% of the largest gap" in lenient.rule


# --- diagnosis: noise ------------------------------------------------------------------------


def test_a_one_point_gap_on_100_examples_is_noise():
    # train 8/100 vs train-dev 9/100. At 90% two-sided (one-sided 95%), Wilson gives
    # train (0.0457, 0.1365) and train-dev (0.0531, 0.1485); Newcombe's lower bound is
    # 0.01 - sqrt((0.09 - 0.0531)² + (0.1365 - 0.08)²) = 0.01 - 0.0675 = -0.0575 < 0.
    d = run(8, 8, 9, train_dev=9, n_train=100, n_train_dev=100, n_dev=100)
    variance = d.gap("variance")
    assert variance.significant is False
    assert variance.material is False
    assert variance.interval[0] == pytest.approx(-0.0574, abs=1e-4)
    assert "within noise" in variance.why
    assert d.problems == []


def test_the_same_one_point_gap_on_a_million_examples_is_real():
    # 80,000 vs 90,000 of 1,000,000. z = 1.6449; Wilson half-widths are about
    # 1.6449 * sqrt(0.08 * 0.92 / 1e6) = 0.000446 and 1.6449 * sqrt(0.09 * 0.91 / 1e6) = 0.000471,
    # so the lower bound is 0.01 - sqrt(0.000446² + 0.000471²) = 0.01 - 0.000649 = 0.00935 > 0.
    n = 1_000_000
    d = run(8, 8, 9, train_dev=9, n_train=n, n_train_dev=n, n_dev=n)
    variance = d.gap("variance")
    assert variance.significant is True
    assert variance.interval[0] == pytest.approx(0.00935, abs=1e-5)
    assert d.problems == ["variance"]


def test_avoidable_bias_uses_the_train_interval_when_human_level_has_no_count():
    # human 7.5 (no count), train 8: bias 0.5. On 100 examples the train bound is
    # 0.0457 - 0.075 < 0 (noise); on 1,000,000 it is 0.08 - 0.000446 - 0.075 = 0.00455 > 0.
    small = run(7.5, 8, 8, train_dev=8, n_train=100).gap("avoidable_bias")
    large = run(7.5, 8, 8, train_dev=8, n_train=1_000_000).gap("avoidable_bias")
    assert (small.significant, small.material) == (False, False)
    assert (large.significant, large.material) == (True, True)
    assert large.interval[0] == pytest.approx(0.00455, abs=1e-5)


def test_avoidable_bias_uses_the_human_interval_when_only_human_level_has_a_count():
    # human 1/100, 90% Wilson upper bound 0.0436; train 3 (no count): 0.03 - 0.0436 < 0.
    gap = run(1, 3, 3, train_dev=3, n_human=100).gap("avoidable_bias")
    assert gap.significant is False
    assert gap.interval[0] == pytest.approx(0.03 - 0.043582, abs=1e-6)


def test_a_large_noisy_gap_does_not_hide_a_smaller_real_one():
    # variance: train 1/20 vs train-dev 3/20 = 10 points, lower bound -0.0707 -> noise.
    # dev overfitting: 1,500 vs 1,700 of 10,000 = 2 points, lower bound 0.0115 -> real.
    # 2 is under 50% of 10, but 10 is noise, so the largest credible gap is 2: material.
    d = run(
        5, 5, 15, train_dev=15, test=17, n_train=20, n_train_dev=20, n_dev=10_000, n_test=10_000
    )
    assert verdicts(d)["variance"] is False
    assert d.problems == ["dev_overfitting"]


def test_a_gap_with_a_count_on_one_side_only_is_judged_on_size_with_a_caveat():
    d = run(1, 1.5, 10, train_dev=2, n_dev=500)
    mismatch = d.gap("data_mismatch")
    assert mismatch.significant is None
    assert mismatch.interval is None
    assert d.problems == ["data_mismatch"]
    assert any("Counts are missing" in c and "Data mismatch" in c for c in d.caveats)


def test_without_any_counts_the_caveat_asks_for_them():
    assert any("No example counts" in c for c in run(1, 8, 10).caveats)
    n = {"n_human": 100, "n_train": 100, "n_dev": 100}
    assert not any("No example counts" in c for c in run(1, 8, 10, **n).caveats)


# --- diagnosis: missing stages and negative gaps ---------------------------------------------


def test_without_train_dev_dev_minus_train_is_variance_with_a_caveat_and_a_recommendation():
    # human 1, train 2, dev 10: bias 1, "variance" = dev - train = 8; 1 < 2.
    d = run(1, 2, 10)
    variance = d.gap("variance")
    assert variance.label == f"Variance (dev {MINUS} train)"
    assert variance.value == pytest.approx(0.08)
    assert d.gap("data_mismatch") is None
    assert d.problems == ["variance"]
    assert CARVE_TRAIN_DEV in d.remedies["variance"]
    assert any("No train-dev error" in c and "data mismatch" in c for c in d.caveats)


def test_with_train_dev_there_is_no_train_dev_caveat():
    d = run(1, 2, 10, train_dev=3)
    assert d.gap("variance").label == f"Variance (train-dev {MINUS} train)"
    assert not any("No train-dev error" in c for c in d.caveats)
    assert CARVE_TRAIN_DEV not in d.remedies.get("variance", [])


def test_without_test_error_dev_overfitting_is_not_assessed_and_says_so():
    without = run(1, 8, 9, train_dev=8.5)
    assert without.gap("dev_overfitting") is None
    assert any("overfitting to the dev set is not assessed" in c for c in without.caveats)
    with_test = run(1, 8, 9, train_dev=8.5, test=9.2)
    assert with_test.gap("dev_overfitting") is not None
    assert not any("not assessed" in c for c in with_test.caveats)


def test_human_level_above_train_is_no_bias_and_a_caveat():
    # human 5, train 3: bias -2. train-dev 4, dev 4.2, test 4: variance 1, mismatch 0.2.
    d = run(5, 3, 4.2, train_dev=4, test=4)
    assert verdicts(d)["avoidable_bias"] is False
    assert d.gap("avoidable_bias").value == pytest.approx(-0.02)
    assert d.problems == ["variance"]
    assert any("below the human-level estimate" in c for c in d.caveats)


def test_dev_below_train_dev_is_not_a_problem_but_gets_a_caveat():
    # train-dev 6, dev 4: mismatch -2.
    d = run(1, 5, 4, train_dev=6)
    assert verdicts(d)["data_mismatch"] is False
    assert "not above" in d.gap("data_mismatch").why
    assert any("Dev error is below train-dev error" in c for c in d.caveats)


def test_train_dev_below_train_gets_a_leakage_caveat():
    d = run(1, 5, 6, train_dev=4)
    assert verdicts(d)["variance"] is False
    assert any("Train-dev error is below train error" in c for c in d.caveats)


def test_train_dev_a_little_below_train_within_noise_raises_no_leakage_caveat():
    # 5.0% on 1,600 train vs 4.7% on 400 train-dev: what a model that does not overfit shows.
    d = run(1, 5, 15, train_dev=4.7, n_train=1600, n_train_dev=400, n_dev=400)
    assert d.gap("variance").value < 0 and d.gap("variance").interval[1] > 0
    assert not any("leakage" in c for c in d.caveats)


def test_train_dev_below_train_beyond_noise_with_counts_gets_the_leakage_caveat():
    d = run(1, 10, 15, train_dev=4, n_train=2000, n_train_dev=1000, n_dev=400)
    assert d.gap("variance").interval[1] < 0
    assert any("Train-dev error is below train error: check for leakage" in c for c in d.caveats)


def test_test_below_dev_is_fine_and_raises_no_caveat():
    d = run(1, 5, 6, train_dev=5.5, test=5)
    assert verdicts(d)["dev_overfitting"] is False
    assert not any("test" in c.lower() for c in d.caveats)


# --- diagnosis: values, rule and serialisation -----------------------------------------------


def test_error_rates_validate_and_derive_their_error_counts():
    assert ErrorRate(0.085, 200).errors == 17
    assert ErrorRate(0.29, 100).errors == 29  # 0.29 * 100 is 28.999... in floats
    assert ErrorRate(0.08).errors is None
    assert ErrorRate(0.08).interval() is None
    with pytest.raises(ValueError):
        ErrorRate(1.2)
    with pytest.raises(ValueError):
        ErrorRate(0.1, 0)
    with pytest.raises(ValueError):
        MaterialityRule(confidence=0.4)


def test_the_rule_is_stated_in_words_with_its_numbers():
    rule = run(1, 8, 10).rule
    for phrase in ("0.5 percentage points", "one-sided 95%", "50% of the largest gap", "Newcombe"):
        assert phrase in rule


def test_to_dict_is_json_ready_and_keeps_fractions():
    d = run(1, 8, 10, train_dev=9, n_train=1000, n_train_dev=1000)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["errors"]["train"]["rate"] == 0.08
    assert data["errors"]["train"]["errors"] == 80
    assert data["errors"]["test"] is None
    assert data["gaps"][0]["value"] == pytest.approx(0.07)
    assert data["problems"] == d.problems
    assert data["interval_level"] == 0.9


basis_points = st.integers(0, 3000)  # error rates 0% to 30% in steps of 0.01 points


@settings(max_examples=300, deadline=None)
@given(
    rates=st.tuples(basis_points, basis_points, basis_points, basis_points, basis_points),
    n=st.one_of(st.none(), st.integers(50, 100_000)),
)
def test_problems_are_positive_gaps_above_the_floor_largest_first(rates, n):
    human, train, train_dev, dev, test = (ErrorRate(r / 10_000, n) for r in rates)
    d = diagnose(human_level=human, train=train, train_dev=train_dev, dev=dev, test=test)
    by_key = {g.key: g for g in d.gaps}
    values = [by_key[k].value for k in d.problems]
    assert values == sorted(values, reverse=True)
    assert all(v >= 0.005 - 1e-9 for v in values)
    assert set(d.problems) == {g.key for g in d.gaps if g.material}
    credible = [g for g in d.gaps if g.value >= 0.005 - 1e-9 and g.significant is not False]
    if credible:
        assert math.isclose(values[0], max(g.value for g in credible))


# --- the command -----------------------------------------------------------------------------

cli = typer.Typer()
cli.command("diagnose")(diagnose_command)


@cli.command("noop")
def _noop() -> None:
    """A second command so typer keeps `diagnose` as a subcommand, as in bayesline's app."""


def invoke(*args: str):
    return CliRunner().invoke(cli, ["diagnose", *args], catch_exceptions=False)


def test_json_output_is_one_object_in_percent():
    # human 1, train 8, dev 10: bias 7, variance (dev - train) 2 < 50% of 7 = 3.5 (Ng's
    # "Avoidable bias" example: focus on bias).
    result = invoke("--human", "1", "--train", "8", "--dev", "10", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["errors"] == {
        "human_level": 1.0,
        "train": 8.0,
        "train_dev": None,
        "dev": 10.0,
        "test": None,
    }
    assert data["gaps"] == {
        "avoidable_bias": 7.0,
        "variance": 2.0,
        "data_mismatch": None,
        "dev_overfitting": None,
    }
    assert data["problems"] == ["avoidable_bias"]
    assert data["remedies"]["avoidable_bias"] == REMEDIES["avoidable_bias"]
    assert data["human_level_source"] == "typed in"
    assert any("No train-dev error" in c for c in data["caveats"])
    assert "Newcombe" in data["rule"]
    assert [g["key"] for g in data["gap_details"]] == ["avoidable_bias", "variance"]


def test_json_gap_details_carry_intervals_in_percent_when_counts_are_given():
    result = invoke(
        "--human", "8", "--train", "8", "--train-dev", "9", "--dev", "9", "--json",
        "--n-train", "100", "--n-train-dev", "100", "--n-dev", "100",
    )  # fmt: skip
    details = {g["key"]: g for g in json.loads(result.stdout)["gap_details"]}
    # The Newcombe lower bound worked out above, -0.0574, in percent.
    assert details["variance"]["interval"][0] == pytest.approx(-5.74, abs=0.01)
    assert details["variance"]["significant"] is False
    assert json.loads(result.stdout)["counts"]["train"] == 100


def test_the_table_shows_each_gap_its_verdict_the_remedies_and_the_caveats():
    result = invoke("--human", "1", "--train", "8", "--train-dev", "8.5", "--dev", "9")
    assert result.exit_code == 0
    out = result.stdout
    assert "Avoidable bias" in out and "Data mismatch" in out
    assert "✓" in out and "✗" in out
    assert "1. Avoidable bias" in out
    assert "Train a bigger model" in out
    assert "caveat:" in out


@pytest.mark.parametrize(
    ("flag", "value"), [("--train", "108"), ("--dev", "-1"), ("--train-dev", "101")]
)
def test_percentages_outside_0_to_100_are_rejected_with_a_clear_error(flag, value):
    args = {"--human": "1", "--train": "8", "--dev": "10"} | {flag: value}
    result = invoke(*[part for pair in args.items() for part in pair])
    assert result.exit_code == 2
    assert "is not a percentage: give 0 to 100" in result.output


def test_a_zero_count_is_rejected():
    result = invoke("--human", "1", "--train", "8", "--dev", "10", "--n-dev", "0")
    assert result.exit_code == 2
    assert "is not an example count" in result.output


def test_errors_typed_as_fractions_get_a_note_on_stderr_and_json_stays_clean():
    result = invoke("--human", "0.01", "--train", "0.08", "--dev", "0.1", "--json")
    assert "errors are percentages" in result.stderr
    assert json.loads(result.stdout)["errors"]["train"] == 0.08


def test_dev_and_test_alone_give_overfitting_and_say_what_would_assess_the_rest():
    result = invoke("--human", "1", "--dev", "10", "--test", "14", "--n-dev", "2000", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["predicted_on"] == ["dev", "test"]
    assert data["gaps"] == {
        "avoidable_bias": None,
        "variance": None,
        "data_mismatch": None,
        "dev_overfitting": 4.0,
    }
    assert data["not_assessed"] == {
        "avoidable_bias": "register train predictions to measure avoidable bias",
        "variance": "register train predictions to measure variance",
        "data_mismatch": "register train-dev predictions to measure data mismatch",
    }


def test_a_diagnosis_without_any_split_error_is_refused_with_a_clear_error():
    result = CliRunner().invoke(cli, ["diagnose", "--human", "1"])
    assert result.exit_code == 2
    assert "give at least one of --train, --train-dev, --dev or --test" in result.output
