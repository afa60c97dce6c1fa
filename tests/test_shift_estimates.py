"""The mismatch explainer's statistics on draws whose truth is known (no warehouse needed)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from evaluation.shift_estimates import MAX_WEIGHT, auc, estimate_shift, importance_weights


def test_the_auc_matches_scikit_learns_with_ties_counted_half():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 20, 500) / 20  # many ties
    is_target = rng.random(500) < scores * 0.8
    assert auc(scores, is_target) == roc_auc_score(is_target, scores)


def test_odds_are_clipped_and_say_which():
    weights, clipped = importance_weights(np.array([0.5, 0.8, 0.999]))
    assert np.allclose(weights[:2], [1.0, 4.0]) and weights[2] == MAX_WEIGHT
    assert clipped.tolist() == [False, False, True]


def draw(n: int, web_training: float, web_target: float, rng) -> tuple:
    """Training and target examples that differ only in how often they are on `web`, where a
    model errs 40% of the time (5% elsewhere): the whole gap is the mix."""
    is_target = np.arange(n) >= n // 2
    web = rng.random(n) < np.where(is_target, web_target, web_training)
    errors = (rng.random(n) < np.where(web, 0.4, 0.05)).astype(float)
    # The true P(target | x) at equal priors: the density ratio of web and of the rest.
    ratio = np.where(web, web_target / web_training, (1 - web_target) / (1 - web_training))
    return ratio / (1 + ratio), is_target, np.arange(n), errors


def test_a_gap_made_only_by_the_mix_is_explained_and_leaves_no_residual():
    p, is_target, groups, errors = draw(8000, 0.1, 0.5, np.random.default_rng(5))
    estimates = estimate_shift(p, is_target, groups, errors)
    assert estimates.shift_detected
    assert estimates.gap.value > 0.1  # about 0.5 * 0.35 - 0.1 * 0.35 = 0.14
    assert estimates.explained.low > 0.08
    assert estimates.residual.low < 0 < estimates.residual.high
    assert estimates.weighted.low < estimates.dev_error < estimates.weighted.high
    assert 0 < estimates.effective_sample_size < 4000


def test_without_a_shift_the_auc_interval_covers_a_half():
    p, is_target, groups, errors = draw(4000, 0.3, 0.3, np.random.default_rng(6))
    noisy = np.clip(p + np.random.default_rng(7).normal(0, 0.05, len(p)), 0.01, 0.99)
    estimates = estimate_shift(noisy, is_target, groups, errors)
    assert estimates.auc.low < 0.5 < estimates.auc.high
    assert not estimates.shift_detected
