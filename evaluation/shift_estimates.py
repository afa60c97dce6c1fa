"""The numbers of the mismatch explainer, each with a 95% group-bootstrap interval.

- AUC: the out-of-fold domain classifier's, computed as the Mann-Whitney statistic (ties count
  half) over the pairs of target and training examples in the same fold. Its interval is a
  percentile bootstrap over groups: groups (users, patients) are
  resampled, not examples, because a group's examples are alike and resampling them one by one
  would make the interval too narrow. DeLong's interval would be cheaper but assumes
  independent examples. The bootstrap holds the folds' models fixed, so it sees which
  examples were drawn but not the noise of fitting on them; the interval is widened around the
  estimate by Nadeau and Bengio's correction for cross-validation (variance times
  1 + K / (K - 1): 1.5 times as wide with 5 folds). On seven draws of two identical
  distributions (the control of tests/test_distribution_shift.py and six other seeds of it)
  the bootstrap interval alone missed 0.5 three times, once calling a shift; widened, none.
  The same widening applies to the numbers that use the weights.
- Importance-weighted train-dev error: each train-dev example weighted by the classifier's odds
  P(target | x) / P(training | x) (fitted with balanced classes, so the odds estimate the
  density ratio of target to training data at x), clipped at `MAX_WEIGHT` so that a few
  examples cannot carry the estimate. It is the error train-dev would have if its mix were the
  target's. Then, of the mismatch gap dev - train-dev, `explained` = weighted - plain train-dev
  is what the shift in mix explains, and `residual` = dev - weighted is what it does not
  (examples of the same kind that are harder in the target, new conditions, label shift).
  The effective sample size (sum w)^2 / sum w^2 says how many train-dev examples the weighted
  error really rests on.
- One set of resampled groups serves every number of a replicate: a group may have train-dev
  and dev examples, and their errors are not independent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

REPLICATES = 400
CONFIDENCE = 0.95
MAX_WEIGHT = 20.0
SEED = 0
#: Which of _numbers' values come from the folds' models (AUC, weighted error, explained,
#: residual); train-dev and dev error and their gap do not.
FITTED = (0, 2, 5, 6)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int_]


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ShiftEstimates:
    auc: Estimate
    train_dev_error: float | None
    weighted: Estimate
    dev_error: float | None
    gap: Estimate
    explained: Estimate
    residual: Estimate
    effective_sample_size: float | None
    clipped_share: float | None
    n_training: int
    n_target: int

    @property
    def shift_detected(self) -> bool:
        return self.auc.low is not None and self.auc.low > 0.5


def importance_weights(p_target: FloatArray) -> tuple[FloatArray, BoolArray]:
    """(clipped odds, whether each was clipped) for probabilities of being target."""
    p = np.clip(p_target, 1e-9, 1 - 1e-9)
    odds = p / (1 - p)
    return np.minimum(odds, MAX_WEIGHT), odds > MAX_WEIGHT


def auc(scores: FloatArray, is_target: BoolArray) -> float:
    """The Mann-Whitney AUC of scores for target against training examples (ties half)."""
    return _AucRanks(scores, is_target, np.zeros(len(scores), dtype=np.int_))(np.ones(len(scores)))


def estimate_shift(
    p_target: FloatArray,
    is_target: BoolArray,
    groups: IntArray,
    errors: FloatArray,
    folds: IntArray | None = None,
) -> ShiftEstimates:
    """The estimates for classifier examples: `p_target` out-of-fold (from the model of each
    example's fold in `folds`), `groups` integer codes, `errors` 1/0 per example (NaN: the
    model did not predict it)."""
    weights, clipped = importance_weights(p_target)
    weights = np.where(is_target, 0.0, weights)
    one_fold = np.zeros(len(p_target), dtype=np.int_)
    auc = _AucRanks(p_target, is_target, one_fold if folds is None else folds)
    point = _numbers(auc, np.ones(len(is_target)), is_target, weights, errors)
    reps = np.array([_numbers(auc, m, is_target, weights, errors) for m in _multiplicities(groups)])
    low, high = _percentiles(reps)
    widen = _fit_inflation(folds)
    for i in FITTED:  # around the point estimate, by the folds' fitting noise
        low[i] = point[i] - widen * (point[i] - low[i])
        high[i] = point[i] + widen * (high[i] - point[i])
    est = [Estimate(*_finite(point[i], low[i], high[i])) for i in range(len(point))]
    training = ~is_target
    with_error = training & ~np.isnan(errors)
    ess = None
    if with_error.any():
        w = weights[with_error]
        ess = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() else None
    return ShiftEstimates(
        auc=est[0],
        train_dev_error=est[1].value,
        weighted=est[2],
        dev_error=est[3].value,
        gap=est[4],
        explained=est[5],
        residual=est[6],
        effective_sample_size=ess,
        clipped_share=float(clipped[training].mean()) if training.any() else None,
        n_training=int(training.sum()),
        n_target=int(is_target.sum()),
    )


class _AucRanks:
    """The sort of the scores, done once per fold; each replicate only re-weights examples.

    Pairs are counted within a fold only: the folds' models differ a little in scale, and
    pooling their scores would compare across models, which biases the AUC of two identical
    distributions below 0.5.
    """

    def __init__(self, scores: FloatArray, is_target: BoolArray, folds: IntArray) -> None:
        self.parts: list[tuple[IntArray, BoolArray, IntArray]] = []
        for fold in np.unique(folds):
            index = np.flatnonzero(folds == fold)
            order = index[np.argsort(scores[index], kind="stable")]
            _, starts = np.unique(scores[order], return_index=True)
            self.parts.append((order, is_target[order], starts))

    def __call__(self, multiplicity: FloatArray) -> float:
        concordant = pairs = 0.0
        for order, is_target, starts in self.parts:
            m = multiplicity[order]
            positive = np.add.reduceat(np.where(is_target, m, 0.0), starts)
            negative = np.add.reduceat(np.where(is_target, 0.0, m), starts)
            below = np.cumsum(negative) - negative
            concordant += np.sum(positive * (below + 0.5 * negative))
            pairs += positive.sum() * negative.sum()
        return float(concordant / pairs) if pairs else np.nan


def _fit_inflation(folds: IntArray | None) -> float:
    """How much wider than the bootstrap's an interval of a cross-validated number is: the
    Nadeau-Bengio correction, variance times 1 + K * n_test / n_train = 1 + K / (K - 1)."""
    k = 1 if folds is None else len(np.unique(folds))
    return float(np.sqrt(1 + k / (k - 1))) if k > 1 else 1.0


def _numbers(
    auc: _AucRanks, m: FloatArray, is_target: BoolArray, weights: FloatArray, errors: FloatArray
) -> list[float]:
    """AUC, train-dev error, weighted train-dev error, dev error, gap, explained, residual."""
    known = ~np.isnan(errors)
    e = np.where(known, errors, 0.0)
    plain = _mean(e, m * (~is_target & known))
    weighted = _mean(e, m * weights * known)
    dev = _mean(e, m * (is_target & known))
    return [auc(m), plain, weighted, dev, dev - plain, weighted - plain, dev - weighted]


def _mean(values: FloatArray, weights: FloatArray) -> float:
    total = weights.sum()
    return float((values * weights).sum() / total) if total > 0 else np.nan


def _multiplicities(groups: IntArray) -> Iterator[FloatArray]:
    """Per replicate, how many times each example is drawn: its group's count in a resample
    of the groups with replacement."""
    rng = np.random.default_rng(SEED)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    for _ in range(REPLICATES):
        drawn = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
        yield drawn[groups].astype(np.float64)


def _percentiles(reps: FloatArray) -> tuple[list[float], list[float]]:
    """Each column's percentile interval over the replicates where it could be measured."""
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = [], []
    for column in reps.T:
        measured = column[~np.isnan(column)]
        low.append(float(np.percentile(measured, tail)) if len(measured) else np.nan)
        high.append(float(np.percentile(measured, 100 - tail)) if len(measured) else np.nan)
    return low, high


def _finite(*values: float) -> tuple[float | None, ...]:
    return tuple(None if v is None or np.isnan(v) else float(v) for v in values)
