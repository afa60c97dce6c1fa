"""From measured learning curves to fitted curves, intervals and forecasts.

Curves, one per slice (overall first):
- `train`, `train_dev`, `dev`: the error at each training-set size; train-dev and dev error
  fall to their floor, train error mostly rises to it (a model memorises less of a bigger set)
  but may fall too (a model that memorises nothing).
- `variance`: train-dev minus train error, the variance gap, which more data shrinks.

Each is fitted as c + a * n^(-b) (evaluation/power_law.py). Intervals come from a cluster
bootstrap: each resample draws the groups of every evaluation set with replacement (the same
draw at every size, as the same examples are measured at every size), and the curve is
refitted. They cover the noise of the evaluation sets and the fit, not another draw of the
training examples, which only retraining could show.

Forecasts, in examples "like these" (the same mix as train):
- dev: the size at which the dev curve reaches human-level error; none when its floor c is at
  or above it: data alone will not get there, the rest is avoidable bias.
- variance: the size at which the gap is half what it is at the largest size measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evaluation.power_law import (
    CurveShape,
    FloatArray,
    PowerLaw,
    binomial_sigma,
    fit_power_laws,
    percentile_interval,
)
from evaluation.rows_learning_curves import (
    CurveName,
    CurveStage,
    FitColumns,
    FittedBand,
    ForecastColumns,
    LearningCurveForecast,
    LearningCurvePoint,
    LearningCurveRun,
)
from evaluation.stats import wilson_interval
from warehouse.slice_names import SliceKey

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
#: A measured point of a fitted curve: (slice column, slice value, stage, training size).
PointKey = tuple[str, str, CurveStage, int]

BOOTSTRAP_REPS = 200
BOOTSTRAP_SEED = 17  # fixed: the same lake gives the same intervals
BOOTSTRAP_CHUNK = 25  # resamples weighed at once: bounds the weight matrix at 25 x groups
MIN_POINTS = 4  # sizes with examples of the slice needed to fit a curve
CURVE_SHAPES: dict[CurveStage, CurveShape] = {
    "train": "any",
    "train_dev": "falling",
    "dev": "falling",
}
MIN_VARIANCE_GAP = 0.005  # the diagnosis's half-point floor: a smaller gap is not worth halving


@dataclass(frozen=True)
class StageOutcomes:
    """What every model got wrong on one evaluation set, size by size."""

    wrong: BoolArray  # (rows, sizes)
    present: BoolArray  # (rows, sizes): the row was measured at that size
    groups: IntArray  # (rows,) group code: resampled together
    slice_masks: BoolArray  # (slices, rows)

    def counts(self) -> tuple[FloatArray, FloatArray]:
        """(errors, examples), each (slices, sizes)."""
        masks = self.slice_masks.astype(np.float64)
        errors = masks @ (self.wrong & self.present).astype(np.float64)
        return errors, masks @ self.present.astype(np.float64)

    def bootstrap_rates(self, reps: int, rng: np.random.Generator) -> FloatArray:
        """Error rates (reps, slices, sizes) of group-resampled copies; NaN where a resample
        holds no example of the slice.

        Errors and examples are first summed per group and slice, so each resample is one
        product of its group weights with that small table, whatever the number of rows.
        """
        n_slices, n_sizes = len(self.slice_masks), self.wrong.shape[1]
        errors, examples = self._per_group()
        rates = np.full((reps, n_slices, n_sizes), np.nan)
        for start in range(0, reps, BOOTSTRAP_CHUNK):
            count = min(BOOTSTRAP_CHUNK, reps - start)
            weights = _resample_weights(rng, count, len(errors))
            resampled_errors, resampled_examples = weights @ errors, weights @ examples
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = np.where(
                    resampled_examples > 0, resampled_errors / resampled_examples, np.nan
                )
            rates[start : start + count] = rate.reshape(count, n_slices, n_sizes)
        return rates

    def _per_group(self) -> tuple[FloatArray, FloatArray]:
        """(errors, examples) per group, each (groups, slices x sizes)."""
        n_groups = int(self.groups.max()) + 1 if len(self.groups) else 0
        tables: list[FloatArray] = []
        for counted in (self.wrong & self.present, self.present):
            columns = [
                np.bincount(self.groups, weights=mask & counted[:, f], minlength=n_groups)
                for mask in self.slice_masks
                for f in range(counted.shape[1])
            ]  # slice-major, size-minor: the order bootstrap_rates reshapes by
            # Weighted counts are floats (the stubs type bincount as integers): no copy here.
            table = np.column_stack(columns) if columns else np.zeros((n_groups, 0))
            tables.append(np.asarray(table, dtype=np.float64))
        return tables[0], tables[1]


def _resample_weights(rng: np.random.Generator, count: int, n_groups: int) -> FloatArray:
    """How often each group is drawn in each of `count` resamples of n_groups draws with
    replacement (integers, not Poisson draws: ten times cheaper, and the size stays fixed)."""
    draws = rng.integers(0, n_groups, size=(count, n_groups))
    weights = np.zeros((count, n_groups))
    for r, row in enumerate(draws):
        weights[r] = np.bincount(row, minlength=n_groups)
    return weights


@dataclass(frozen=True)
class Curve:
    """One measured curve: sizes with examples, its rates, their standard errors and the
    bootstrap's rates (reps, sizes)."""

    sizes: FloatArray
    rate: FloatArray
    sigma: FloatArray
    boot: FloatArray
    shape: CurveShape = "falling"  # see power_law.fit_power_law

    def fit(self) -> tuple[PowerLaw, list[PowerLaw]]:
        boot = np.where(np.isnan(self.boot), self.rate[None, :], self.boot)
        law = fit_power_laws(self.sizes, self.rate[None, :], self.sigma[None, :], self.shape)[0]
        sigma = np.broadcast_to(self.sigma, boot.shape)
        return law, fit_power_laws(self.sizes, boot, sigma, self.shape)


def point_rows(
    outcomes: Mapping[CurveStage, StageOutcomes],
    sizes: list[int],
    slices: Sequence[SliceKey],
    common: LearningCurveRun,
) -> list[LearningCurvePoint]:
    """LEARNING_CURVE_COLUMNS rows: each stage's error per slice and size, with its interval."""
    rows: list[LearningCurvePoint] = []
    for stage, outcome in outcomes.items():
        errors, examples = outcome.counts()
        for s, (column, value) in enumerate(slices):
            for f, size in enumerate(sizes):
                n, k = int(examples[s, f]), int(errors[s, f])
                if n == 0:
                    continue
                low, high = wilson_interval(k, n)
                # The shared columns one by one: the fitted band is added later, and a row
                # unpacked from `common` could not promise what it holds of those.
                rows.append(
                    {
                        "model_version": common["model_version"],
                        "split_version": common["split_version"],
                        "learner": common["learner"],
                        "computed_at": common["computed_at"],
                        "slice_column": column,
                        "slice_value": value,
                        "stage": stage,
                        "n_train": size,
                        "share_of_train": size / sizes[-1],
                        "n": n,
                        "errors": k,
                        "error_rate": k / n,
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
    return rows


#: A curve's fit to the measured rates and its refits to the bootstrap's.
Fit = tuple[PowerLaw, list[PowerLaw]]
#: The error a curve is forecast to reach, and each bootstrap refit's.
Target = tuple[float, FloatArray]


def forecast_rows(
    outcomes: Mapping[CurveStage, StageOutcomes],
    sizes: list[int],
    slices: Sequence[SliceKey],
    human_levels: Mapping[SliceKey, float | None],
    n_available: int,
    common: LearningCurveRun,
    reps: int = BOOTSTRAP_REPS,
) -> tuple[list[LearningCurveForecast], dict[PointKey, FittedBand]]:
    """LEARNING_CURVE_FORECAST_COLUMNS rows per slice and curve, and each measured point's
    fitted error with its bootstrap band, keyed (slice column, slice value, stage, size)."""
    # threadpoolctl ships no type information.
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    counts = {stage: o.counts() for stage, o in outcomes.items()}
    # One BLAS thread: these products are small, and on a busy machine OpenBLAS's threads
    # waiting on each other made one of them take 2 s instead of 0.02 s.
    with threadpool_limits(limits=1, user_api="blas"):
        boot = {stage: o.bootstrap_rates(reps, rng) for stage, o in outcomes.items()}
    sizes_array = np.asarray(sizes, dtype=float)
    rows: list[LearningCurveForecast] = []
    fitted: dict[PointKey, FittedBand] = {}
    for s, key in enumerate(slices):
        curves: dict[CurveName, Curve | None] = {
            stage: _curve(sizes_array, *counts[stage], boot[stage], s, CURVE_SHAPES[stage])
            for stage in outcomes
        }
        curves["variance"] = _gap(curves.get("train_dev"), curves.get("train"))
        measured = {name: curve for name, curve in curves.items() if curve is not None}
        fits = {name: curve.fit() for name, curve in measured.items()}
        for name, (law, laws) in fits.items():
            target = _target(name, law, laws, human_levels.get(key))
            # Dev error cannot fall below the error the model makes on its own training data:
            # where that rises to human-level or above, more data cannot close the rest.
            train_fit = fits.get("train") if name == "dev" else None
            rows.append(
                {
                    **common,
                    "slice_column": key[0],
                    "slice_value": key[1],
                    "curve": name,
                    "n_largest": int(law.n_ref),
                    "n_train_available": n_available,
                    **_fit_columns(law, laws),
                    **_forecast_columns(name, law, laws, target, n_available, train_fit),
                }
            )
            if name != "variance":
                fitted.update(_fitted_points(key, name, measured[name].sizes, law, laws))
    return rows, fitted


def _curve(
    sizes: FloatArray,
    errors: FloatArray,
    examples: FloatArray,
    boot: FloatArray,
    s: int,
    shape: CurveShape,
) -> Curve | None:
    measured = examples[s] > 0
    if measured.sum() < MIN_POINTS:
        return None
    k, n = errors[s, measured], examples[s, measured]
    return Curve(sizes[measured], k / n, binomial_sigma(k, n), boot[:, s, measured], shape)


def _gap(train_dev: Curve | None, train: Curve | None) -> Curve | None:
    """The variance gap at the sizes both curves were measured at."""
    if train_dev is None or train is None:
        return None
    both = np.intersect1d(train_dev.sizes, train.sizes)
    if len(both) < MIN_POINTS:
        return None
    a, b = np.isin(train_dev.sizes, both), np.isin(train.sizes, both)
    return Curve(
        both,
        train_dev.rate[a] - train.rate[b],
        np.hypot(train_dev.sigma[a], train.sigma[b]),
        train_dev.boot[:, a] - train.boot[:, b],
    )


def _target(
    name: CurveName, law: PowerLaw, laws: list[PowerLaw], human: float | None
) -> Target | None:
    """(the point target, each resample's target) a curve is forecast to reach, or None."""
    if name == "dev" and human is not None:
        return human, np.full(len(laws), human)
    if name == "variance":
        return float(law(law.n_ref)) / 2, np.array([float(b(b.n_ref)) / 2 for b in laws])
    return None


def _fit_columns(law: PowerLaw, laws: list[PowerLaw]) -> FitColumns:
    floor_low, floor_high = percentile_interval(np.array([b.c for b in laws]))
    return {
        "error_at_largest": float(law(law.n_ref)),
        "floor": law.c,
        "floor_low": floor_low,
        "floor_high": floor_high,
        "scale_a": law.a,
        "exponent_b": law.b,
    }


def _forecast_columns(
    name: CurveName,
    law: PowerLaw,
    laws: list[PowerLaw],
    target: Target | None,
    n_available: int,
    train_fit: Fit | None = None,
) -> ForecastColumns:
    empty: ForecastColumns = {
        "target_error": None,
        "n_needed": None,
        "n_needed_low": None,
        "n_needed_high": None,
        "more_examples": None,
        "more_examples_low": None,
        "more_examples_high": None,
        "share_reachable": None,
        "verdict": "drawn, not forecast",
    }
    if target is None:
        verdict = "no human-level error: set [evaluation] human_level_error to forecast"
        return empty | {"verdict": verdict if name == "dev" else empty["verdict"]}
    goal, goals = target
    if name == "variance" and 2 * goal < MIN_VARIANCE_GAP:
        at_largest = f"{_pct(2 * goal)} at {int(law.n_ref):,} examples"
        return empty | {"verdict": f"no variance gap to halve ({at_largest})"}
    train_law = train_fit[0] if train_fit else None
    train_laws: Sequence[PowerLaw | None] = train_fit[1] if train_fit else [None] * len(laws)
    needed = _n_reaching(law, goal, train_law)
    boot = np.array([_n_reaching(b, g, t) for b, g, t in zip(laws, goals, train_laws, strict=True)])
    low, high = percentile_interval(boot)
    n_ref = law.n_ref
    columns = empty | {
        "target_error": goal,
        "n_needed": _finite(needed),
        "n_needed_low": _finite(low),
        "n_needed_high": _finite(high),
        "more_examples": _more(needed, n_ref),
        "more_examples_low": _more(low, n_ref),
        "more_examples_high": _more(high, n_ref),
        "share_reachable": float(np.mean(np.isfinite(boot))),
    }
    verdict = _verdict(name, law, goal, (needed, low, high), n_available, train_law)
    return columns | {"verdict": verdict}


def _n_reaching(law: PowerLaw, goal: float, train_law: PowerLaw | None) -> float:
    if train_law is not None and train_law.c >= goal:
        return math.inf
    return law.n_reaching(goal)


def _verdict(
    name: CurveName,
    law: PowerLaw,
    goal: float,
    forecast: tuple[float, float, float],
    n_available: int,
    train_law: PowerLaw | None,
) -> str:
    """What the forecast means; `forecast` is (size needed, its interval's low and high)."""
    needed, low, high = forecast
    at_largest = float(law(law.n_ref))
    if name == "dev" and at_largest <= goal:
        return f"at human-level error ({_pct(goal)}) already"
    if math.isinf(needed):
        if name == "dev" and train_law is not None and train_law.c >= goal:
            return (
                f"data alone will not get there: training error rises towards a fitted "
                f"{_pct(train_law.c)} with more data, at or above human-level error "
                f"{_pct(goal)}; the rest is avoidable bias (a bigger model, better features), "
                "not more data"
            )
        if name == "dev":
            return (
                f"data alone will not get there: the fitted floor {_pct(law.c)} is at or above "
                f"human-level error {_pct(goal)}; the rest is avoidable bias (a bigger model, "
                "better features), not more data"
            )
        return (
            f"data alone will not halve it: the gap's fitted floor {_pct(law.c)} is above half "
            f"of it ({_pct(goal)}); regularise or simplify the model"
        )
    more = _more(needed, law.n_ref)
    span = f"95% interval {_more(low, law.n_ref):,} to " + (
        f"{_more(high, law.n_ref):,}" if math.isfinite(high) else "beyond reach"
    )
    what = f"reach human-level error {_pct(goal)}" if name == "dev" else "halve it"
    text = f"about {more:,} more examples like these {what} ({span})"
    if needed <= n_available and n_available > law.n_ref:
        text += f"; train already holds {n_available:,}: raise baseline_max_train_rows"
    return text


def _fitted_points(
    key: SliceKey, stage: CurveStage, sizes: FloatArray, law: PowerLaw, laws: list[PowerLaw]
) -> dict[PointKey, FittedBand]:
    band = np.array([b(sizes) for b in laws])  # (reps, sizes)
    low = np.percentile(band, 2.5, axis=0)
    high = np.percentile(band, 97.5, axis=0)
    return {
        (*key, stage, int(size)): {
            "fitted_error": float(law(size)),
            "fitted_low": float(low[i]),
            "fitted_high": float(high[i]),
        }
        for i, size in enumerate(sizes)
    }


def _finite(n: float) -> int | None:
    """A size as an integer, or None when it is never reached."""
    return None if math.isinf(n) else math.ceil(n)


def _more(n: float, n_largest: float) -> int | None:
    """Examples to add to the largest set measured (none when it is reached already)."""
    return None if math.isinf(n) else max(math.ceil(n - n_largest), 0)


def _pct(rate: float) -> str:
    return f"{rate:.1%}"
