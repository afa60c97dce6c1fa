"""Bias/variance diagnosis: which gap between error rates to work on next.

Human-level error stands in for Bayes error. With error rates measured at each stage, four
gaps say where the remaining error comes from:

- avoidable bias = train - human-level: the model does not yet fit its training data;
- variance = train-dev - train: it does not generalise within the training distribution;
- data mismatch = dev - train-dev: the target distribution differs from the training one;
- overfitting to dev = test - dev: the dev set has been tuned on too often.

Train error is the error on the examples the model was fit on, from the distribution
train-dev is drawn from (evaluation/train_error.py chooses them): `train_measured_on` says
which, and when the predictions do not say what the model saw, a caveat says that train error
assumes it saw every train example.

Any non-empty subset of the four splits can be diagnosed: teams often predict only dev and
test. Each gap needs the errors on both of its sides; one that cannot be measured is listed in
`not_assessed` with the predictions that would make it assessable. Without a train-dev error,
dev - train is read as variance (the classic setting where train and dev share a
distribution), with a caveat that it may include data mismatch.

Materiality rule. A gap is material, i.e. a problem worth working on now, when all hold:

(a) it is positive and at least `absolute_floor` (half a percentage point by default);
(b) when example counts are known, it is statistically significant: the one-sided lower
    confidence bound of the gap is above zero. With counts on both sides the bound comes from
    Newcombe's hybrid score interval for a difference of proportions; for avoidable bias,
    whose human-level estimate often has no count, it comes from the Wilson interval of
    whichever side has one, the other side taken as exact. Gaps without counts are judged on
    size alone;
(c) it is at least `relative_share` (half by default) of the largest gap that passes (a)
    and (b). A gap small next to the largest is not the problem to work on now, and a large
    but noisy gap does not hide a smaller, real one.

Why half. Ng's worked examples (Machine Learning Yearning, the "Nuts and bolts of applying
deep learning" talk, the Deep Learning Specialization) call a gap of 1 point beside one of 4
points, and of 2 beside 7, not the problem to work on, while gaps of 4 beside 5, 9 beside 10
and 15 beside 15 are all called. Every share above 2/7 and at most 4/5 reproduces them all;
half lies between, with room on both sides. tests/test_ng_examples.py holds each example.

The largest gap that passes (a) and (b) always passes (c), so it is always listed first.
Several gaps can be material at once. Negative gaps are never problems; some deserve caveats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from evaluation.stats import difference_interval, one_sided_level, wilson_interval
from warehouse.config import EvaluationConfig
from warehouse.split_names import SPLIT_DISPLAY_NAMES, SPLITS, SplitName

#: The four gaps, in the order of the stages they lie between.
GapKey = Literal["avoidable_bias", "variance", "data_mismatch", "dev_overfitting"]
GAP_KEYS: tuple[GapKey, ...] = get_args(GapKey)
_TOLERANCE = 1e-9  # products such as 0.3 * 0.07 carry float noise: a tie must stay a tie
MINUS = "\N{MINUS SIGN}"  # a true minus sign: labels read as arithmetic, not hyphenated words
_DECIMALS = 12  # gaps are rounded here so float noise never shows up in reports

STAGE_NAMES: dict[str, str] = {
    "human_level": "human-level",
    **{split: name for split, name in SPLIT_DISPLAY_NAMES.items()},
}
GAP_NAMES: dict[str, str] = {
    "avoidable_bias": "Avoidable bias",
    "variance": "Variance",
    "data_mismatch": "Data mismatch",
    "dev_overfitting": "Overfitting to dev",
}
REMEDIES: dict[GapKey, list[str]] = {
    "avoidable_bias": [
        "Train a bigger model (more layers or units).",
        "Train longer or with a better optimiser (e.g. momentum, RMSprop, Adam).",
        "Try a better architecture or search hyperparameters.",
    ],
    "variance": [
        "Get more training data.",
        "Regularise: L2, dropout, data augmentation.",
        "Stop training early.",
        "Try a different architecture or search hyperparameters.",
    ],
    "data_mismatch": [
        "Do manual error analysis to learn how training data differs from dev/test.",
        "Make training data more like the target: collect more target-like examples.",
        "Synthesise target-like data (e.g. add the target's noise or conditions).",
    ],
    "dev_overfitting": [
        "Get more dev data (a bigger dev set).",
        "Tune on the dev set less often.",
    ],
}
#: The splits each gap needs; variance falls back to dev when train-dev is missing.
GAP_NEEDS: dict[str, tuple[SplitName, ...]] = {
    "avoidable_bias": ("train",),
    "variance": ("train", "train_dev"),
    "data_mismatch": ("train_dev", "dev"),
    "dev_overfitting": ("dev", "test"),
}
MEASURED_STAGES = SPLITS
CARVE_TRAIN_DEV = (
    "Carve a train-dev set out of the training distribution to separate variance from "
    "data mismatch."
)


@dataclass(frozen=True)
class ErrorRate:
    """One measured error rate, with the number of examples it was measured on when known."""

    rate: float
    n: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"an error rate is a fraction in [0, 1], got {self.rate}")
        if self.n is not None and self.n < 1:
            raise ValueError(f"n must be at least 1 when given, got {self.n}")

    @property
    def errors(self) -> int | None:
        """Errors implied by rate * n, rounded half up (a reported rate is itself rounded)."""
        return None if self.n is None else int(self.rate * self.n + 0.5)

    def counted(self) -> tuple[int, int] | None:
        """(errors, n), or None without a count."""
        errors = self.errors
        return None if errors is None or self.n is None else (errors, self.n)

    def interval(self, confidence: float = 0.95) -> tuple[float, float] | None:
        """Two-sided Wilson interval for the rate, or None without a count."""
        counted = self.counted()
        return None if counted is None else wilson_interval(*counted, confidence)


@dataclass(frozen=True)
class MaterialityRule:
    """Thresholds deciding which gaps are problems (see the module docstring)."""

    # One default for each, the config's.
    relative_share: float = EvaluationConfig.material_gap_share
    absolute_floor: float = EvaluationConfig.material_gap_floor
    confidence: float = EvaluationConfig.material_gap_confidence

    @classmethod
    def from_config(cls, evaluation: EvaluationConfig) -> MaterialityRule:
        """The rule `[evaluation]` sets: material_gap_share, _floor and _confidence."""
        return cls(
            relative_share=evaluation.material_gap_share,
            absolute_floor=evaluation.material_gap_floor,
            confidence=evaluation.material_gap_confidence,
        )

    def __post_init__(self) -> None:
        if not 0 <= self.relative_share <= 1:
            raise ValueError(f"relative_share must be in [0, 1], got {self.relative_share}")
        if not 0 <= self.absolute_floor < 1:
            raise ValueError(f"absolute_floor must be in [0, 1), got {self.absolute_floor}")
        one_sided_level(self.confidence)  # validates: a one-sided level lies in (0.5, 1)

    @property
    def interval_level(self) -> float:
        """Two-sided level of reported gap intervals: their lower end is the one-sided bound."""
        return one_sided_level(self.confidence)

    def describe(self) -> str:
        """The rule in words, with this rule's numbers."""
        return (
            f"A gap is material when (a) it is positive and at least "
            f"{_points(self.absolute_floor)} percentage points; (b) when example counts are "
            f"known, it is statistically significant: its one-sided "
            f"{_percent(self.confidence)}% lower confidence bound is above zero (Newcombe's "
            f"hybrid score interval when both errors have counts; for avoidable bias, the "
            f"Wilson interval of the side with a count, the other taken as exact); and (c) it "
            f"is at least {_percent(self.relative_share)}% of the largest gap that passes (a) "
            f"and (b). Gaps without counts are judged on size alone. Several gaps can be "
            f"material at once; they are listed largest first."
        )


@dataclass(frozen=True)
class Gap:
    """One gap between two stages' error rates and the verdict on it."""

    key: GapKey
    label: str
    value: float
    interval: tuple[float, float] | None
    significant: bool | None
    material: bool
    why: str

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "interval": list(self.interval) if self.interval else None,
            "significant": self.significant,
            "material": self.material,
            "why": self.why,
        }


@dataclass(frozen=True)
class Diagnosis:
    """Errors, gaps, the problems among them (largest first) with remedies, and caveats."""

    errors: dict[str, ErrorRate | None]
    human_level_source: str
    gaps: list[Gap]
    problems: list[GapKey]
    remedies: dict[GapKey, list[str]]
    caveats: list[str]
    rule: str
    interval_level: float = 0.9  # two-sided level of the reported intervals
    not_assessed: dict[GapKey, str] = field(default_factory=dict)  # what would assess each
    train_measured_on: str | None = None  # which examples train error is on, chosen how
    target_in_train: ErrorRate | None = None  # fitted target-distribution examples: context only

    def gap(self, key: str) -> Gap | None:
        """The gap with this key, or None when it was not assessed."""
        return next((g for g in self.gaps if g.key == key), None)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form; rates and gaps stay fractions."""
        return {
            "errors": {
                stage: _error_dict(e, self.interval_level) for stage, e in self.errors.items()
            },
            "human_level_source": self.human_level_source,
            "interval_level": self.interval_level,
            "gaps": [g.to_dict() for g in self.gaps],
            "problems": list(self.problems),
            "remedies": {k: list(v) for k, v in self.remedies.items()},
            "caveats": list(self.caveats),
            "not_assessed": dict(self.not_assessed),
            "rule": self.rule,
            "train_measured_on": self.train_measured_on,
            "target_in_train": _error_dict(self.target_in_train, self.interval_level),
        }

    @property
    def stages_measured(self) -> list[str]:
        """The splits with an error, in pipeline order (e.g. ['dev', 'test'])."""
        return [s for s in MEASURED_STAGES if self.errors.get(s) is not None]


def diagnose(
    *,
    human_level: ErrorRate,
    train: ErrorRate | None = None,
    dev: ErrorRate | None = None,
    train_dev: ErrorRate | None = None,
    test: ErrorRate | None = None,
    human_level_source: str = "configured",
    rule: MaterialityRule = MaterialityRule(),
    train_measured_on: str | None = None,
    train_assumed: bool = False,
    target_in_train: ErrorRate | None = None,
) -> Diagnosis:
    """Say which gaps between error rates are problems to work on, largest first.

    Args:
        human_level: Human-level error, the proxy for Bayes error.
        train: Error on the training set; without it neither avoidable bias nor variance is
            assessed.
        dev: Error on the dev set (target distribution).
        train_dev: Error on held-out data from the training distribution; without it dev - train
            is read as variance.
        test: Error on the test set (target distribution); without it overfitting to dev is not
            assessed.
        human_level_source: Where the human-level estimate came from, for the report.
        rule: Thresholds deciding which gaps are material.
        train_measured_on: Which examples train error was measured on and how they were chosen.
        train_assumed: The predictions do not say which train examples the model saw, so train
            error assumes it saw them all (a caveat says so).
        target_in_train: Error on the fitted target-distribution train examples, shown beside
            train error for context; no gap uses it.

    At least one of train, train-dev, dev and test is needed; any subset of them works.

    Returns:
        The diagnosis: every assessed gap with its verdict and why, the material ones as
        problems (largest first) with their remedies, caveats, and for each gap not assessed
        the predictions that would assess it.
    """
    errors = {
        "human_level": human_level,
        "train": train,
        "train_dev": train_dev,
        "dev": dev,
        "test": test,
    }
    if all(errors[stage] is None for stage in MEASURED_STAGES):
        raise ValueError("no measured error: give at least one of train, train-dev, dev or test")
    measured = [_measure(key, low, high, errors, rule) for key, low, high in _pairs(errors)]
    largest = _largest_credible(measured, rule)
    gaps = [_judge(m, largest, rule) for m in measured]
    problems = [g.key for g in sorted(gaps, key=lambda g: -g.value) if g.material]
    return Diagnosis(
        errors=errors,
        human_level_source=human_level_source,
        gaps=gaps,
        problems=problems,
        remedies={key: _remedies(key, train_dev is None) for key in problems},
        caveats=_caveats(errors, gaps, train_assumed),
        rule=rule.describe(),
        interval_level=rule.interval_level,
        not_assessed=_not_assessed(errors, {g.key for g in gaps}),
        train_measured_on=train_measured_on,
        target_in_train=target_in_train,
    )


@dataclass(frozen=True)
class _Measured:
    """A gap before the verdict: its stages, size, interval and significance."""

    key: GapKey
    low: str
    high: str
    value: float
    interval: tuple[float, float] | None
    significant: bool | None


def _pairs(errors: dict[str, ErrorRate | None]) -> list[tuple[GapKey, str, str]]:
    """(gap key, lower stage, higher stage) for every gap the given errors allow."""
    has = {stage for stage, error in errors.items() if error is not None}
    pairs: list[tuple[GapKey, str, str]] = []
    if "train" in has:
        pairs.append(("avoidable_bias", "human_level", "train"))
    held_out = "train_dev" if "train_dev" in has else "dev"
    if {"train", held_out} <= has:
        pairs.append(("variance", "train", held_out))
    if {"train_dev", "dev"} <= has:
        pairs.append(("data_mismatch", "train_dev", "dev"))
    if {"dev", "test"} <= has:
        pairs.append(("dev_overfitting", "dev", "test"))
    return pairs


def _not_assessed(errors: dict[str, ErrorRate | None], assessed: set[GapKey]) -> dict[GapKey, str]:
    """For each gap not measured, which predictions would measure it."""
    result: dict[GapKey, str] = {}
    for key in GAP_KEYS:
        if key in assessed:
            continue
        missing = [stage for stage in GAP_NEEDS[key] if errors[stage] is None]
        if key == "variance" and errors["dev"] is not None:
            missing = [s for s in missing if s != "train_dev"]  # dev - train stands in
        if key == "data_mismatch" and errors["train_dev"] is None and "variance" in assessed:
            why = "to tell data mismatch apart from variance"
        else:
            why = f"to measure {GAP_NAMES[key].lower()}"
        names = " and ".join(STAGE_NAMES[stage] for stage in missing)
        result[key] = f"register {names} predictions {why}"
    return result


def _measure(
    key: GapKey, low: str, high: str, errors: dict[str, ErrorRate | None], rule: MaterialityRule
) -> _Measured:
    """The gap high - low, its interval and, when counts allow, whether it exceeds noise."""
    low_error, high_error = errors[low], errors[high]
    if low_error is None or high_error is None:
        raise ValueError(f"{key} needs both {low} and {high} errors")  # _pairs checks this
    interval = _gap_interval(key, low_error, high_error, rule.interval_level)
    # The lower end of a (2c - 1) two-sided interval is the one-sided bound at level c.
    significant = None if interval is None else interval[0] > 0
    value = _clean(high_error.rate - low_error.rate)
    return _Measured(key, low, high, value, interval, significant)


def _gap_interval(
    key: str, low: ErrorRate, high: ErrorRate, level: float
) -> tuple[float, float] | None:
    """Interval for high - low at the two-sided `level`, or None when counts do not allow one."""
    low_counted, high_counted = low.counted(), high.counted()
    if low_counted is not None and high_counted is not None:
        lo, hi = difference_interval(*low_counted, *high_counted, level)
        return _clean(lo), _clean(hi)
    if key != "avoidable_bias":
        return None  # two measured errors: one count alone would understate the noise
    # Human-level often comes from the literature without a count: it is taken as exact.
    high_interval, low_interval = high.interval(level), low.interval(level)
    if high_interval is not None:
        lo, hi = high_interval
        return _clean(lo - low.rate), _clean(hi - low.rate)
    if low_interval is not None:
        lo, hi = low_interval
        return _clean(high.rate - hi), _clean(high.rate - lo)
    return None


def _largest_credible(measured: list[_Measured], rule: MaterialityRule) -> float:
    """The largest gap that passes the floor and is not shown to be noise."""
    credible = [
        m.value for m in measured if _above_floor(m.value, rule) and m.significant is not False
    ]
    return max(credible, default=0.0)


def _above_floor(value: float, rule: MaterialityRule) -> bool:
    return value > 0 and value >= rule.absolute_floor - _TOLERANCE


def _judge(m: _Measured, largest: float, rule: MaterialityRule) -> Gap:
    material, why = _verdict(m, largest, rule)
    return Gap(
        key=m.key,
        label=_label(m.key, m.low, m.high),
        value=m.value,
        interval=m.interval,
        significant=m.significant,
        material=material,
        why=why,
    )


def _verdict(m: _Measured, largest: float, rule: MaterialityRule) -> tuple[bool, str]:
    """Whether the gap is material, and one sentence saying why."""
    low, high = STAGE_NAMES[m.low], STAGE_NAMES[m.high]
    size = f"{_points(m.value)} points"
    if m.value <= 0:
        return False, f"{high.capitalize()} error is not above {low} error, so there is no gap."
    if not _above_floor(m.value, rule):
        floor = _points(rule.absolute_floor)
        return False, f"{size} is under the {floor}-point floor: too small to act on."
    if m.significant is False:
        return False, f"{size} is within noise: {_bound_words(m.interval, rule)}."
    if m.value < rule.relative_share * largest - _TOLERANCE:
        share = _percent(rule.relative_share)
        return False, (
            f"{size} is under {share}% of the largest gap ({_points(largest)} points): "
            f"not the problem to work on now."
        )
    evidence = (
        f", above noise: {_bound_words(m.interval, rule)}"
        if m.significant
        else " (no counts, so judged on size alone)"
    )
    if abs(m.value - largest) <= _TOLERANCE:
        lead = "the largest gap"
    else:
        lead = (
            f"at least {_percent(rule.relative_share)}% of the largest ({_points(largest)} points)"
        )
    return True, f"{size}, {lead}{evidence}."


def _bound_words(interval: tuple[float, float] | None, rule: MaterialityRule) -> str:
    lower = interval[0] if interval else 0.0
    return f"its one-sided {_percent(rule.confidence)}% lower bound is {_points(lower)} points"


def _label(key: GapKey, low: str, high: str) -> str:
    return f"{GAP_NAMES[key]} ({STAGE_NAMES[high]} {MINUS} {STAGE_NAMES[low]})"


def _remedies(key: GapKey, no_train_dev: bool) -> list[str]:
    remedies = list(REMEDIES[key])
    if key == "variance" and no_train_dev:
        remedies.append(CARVE_TRAIN_DEV)
    return remedies


def _caveats(
    errors: dict[str, ErrorRate | None], gaps: list[Gap], train_assumed: bool = False
) -> list[str]:
    caveats: list[str] = []
    by_key = {g.key: g for g in gaps}
    if train_assumed and errors["train"] is not None:
        caveats.append(TRAIN_ASSUMED)
    if "avoidable_bias" in by_key and by_key["avoidable_bias"].value < 0:
        caveats.append(
            "Train error is below the human-level estimate: the model may be overfitting the "
            "training set, or the human baseline is weak (use the best humans' error, the "
            "closest proxy for Bayes error); avoidable bias cannot be measured against it."
        )
    variance = by_key.get("variance")
    if variance is not None and errors["train_dev"] is None:
        caveats.append(
            f"No train-dev error: dev {MINUS} train is read as variance, but if dev comes from a "
            f"different distribution than train it also includes data mismatch. {CARVE_TRAIN_DEV}"
        )
    if variance is not None and _below_beyond_noise(variance):
        caveats.append(_below_train_caveat(errors["train_dev"] is not None))
    if "data_mismatch" in by_key and by_key["data_mismatch"].value < 0:
        caveats.append(
            "Dev error is below train-dev error: the target data is easier than the training "
            "data for this model; check that dev really comes from the target distribution "
            "and is large enough to trust."
        )
    if errors["test"] is None and errors["dev"] is not None:
        caveats.append("No test error: overfitting to the dev set is not assessed.")
    caveats.extend(_count_caveats(errors, gaps))
    return caveats


TRAIN_ASSUMED = (
    "Train error assumes the model saw every train example: its train predictions do not say "
    "which it was fit on. If it was fit on a sample, train error is partly held-out error, "
    "which overstates avoidable bias and hides variance: mark the fitted examples "
    "(in_training_set) in the predictions file."
)


def _below_beyond_noise(gap: Gap) -> bool:
    """Negative, and with counts, below zero by more than noise: a held-out error a little
    under train error is what a model that does not overfit shows half the time."""
    if gap.interval is None:
        return gap.value < 0
    return gap.interval[1] < 0


def _below_train_caveat(has_train_dev: bool) -> str:
    held_out = "Train-dev" if has_train_dev else "Dev"
    return (
        f"{held_out} error is below train error: check for leakage between the two sets, a "
        f"{held_out.lower()} set too small to trust, or train error measured with dropout or "
        "augmentation switched on."
    )


def _count_caveats(errors: dict[str, ErrorRate | None], gaps: list[Gap]) -> list[str]:
    if all(e is None or e.n is None for e in errors.values()):
        return [
            "No example counts were given: gaps are judged on size alone. Give the counts to "
            "tell real gaps from noise."
        ]
    partial = [g.label for g in gaps if g.significant is None]
    if not partial:
        return []
    return [
        f"Counts are missing on one or both sides of: {', '.join(partial)}; "
        "these are judged on size alone."
    ]


def _error_dict(error: ErrorRate | None, level: float) -> dict[str, object] | None:
    if error is None:
        return None
    interval = error.interval(level)
    return {
        "rate": error.rate,
        "n": error.n,
        "errors": error.errors,
        "interval": list(interval) if interval else None,
    }


def _clean(value: float) -> float:
    return round(value, _DECIMALS)


def _points(fraction: float) -> str:
    """A fraction as percentage points, e.g. 0.07 -> '7.0', 0.0049 -> '0.49'."""
    points = fraction * 100
    return f"{points:.1f}" if abs(points) >= 1 or points == 0 else f"{points:.2g}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}"
