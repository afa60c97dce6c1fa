"""Learning-curve arithmetic: fit error(n) = c + a * n^(-b) and forecast from it.

c is the floor the curve tends to with unlimited data of the same kind, a the part that more
data removes at the reference size, b how fast it goes. For a fixed b the model is linear in c
and a, so the fit profiles them out (weighted least squares with c >= 0 and the sign of a
fixed, in closed form) and searches b alone: a coarse grid finds the global minimum and finer
grids around it pin it down, every grid point at once in numpy. A local optimiser from a bad
start can settle in the wrong valley of six points and three parameters; this cannot, and one
fit takes a fraction of a millisecond, which the bootstrap's thousands of fits need (scipy's
bounded Brent search took ten times as long for the same optimum).

Sizes are divided by a reference size (the largest measured) before fitting, so a and c stay
on the scale of error rates whatever the dataset size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

#: Floats: sizes, error rates, their standard errors and fitted parameters.
FloatArray = npt.NDArray[np.float64]
#: Which sign the scale a may take: "falling" a >= 0, "rising" a <= 0, "any" either.
CurveShape = Literal["falling", "rising", "any"]

B_BOUNDS = (0.02, 3.0)  # slower than n^-0.02 is flat; faster than n^-3 no real model learns
B_GRID = np.geomspace(*B_BOUNDS, 48)
REFINEMENTS = 3  # each narrows the step in b eightfold around the best grid point
#: The sign s that a * s >= 0 holds to, per shape.
SHAPE_SIGNS: dict[CurveShape, float] = {"falling": 1.0, "rising": -1.0, "any": 0.0}
#: A forecast beyond this many examples is reported as unreachable: no team collects it.
MAX_FORECAST_N = 1e12


@dataclass(frozen=True)
class PowerLaw:
    """error(n) = c + a * (n / n_ref)^(-b)."""

    c: float
    a: float
    b: float
    n_ref: float

    @overload
    def __call__(self, n: float) -> float: ...
    @overload
    def __call__(self, n: FloatArray) -> FloatArray: ...
    def __call__(self, n: float | FloatArray) -> float | FloatArray:
        scaled = np.asarray(n, dtype=float) / self.n_ref
        error: float | FloatArray = self.c + self.a * scaled ** (-self.b)
        return error

    def n_reaching(self, target: float) -> float:
        """The training-set size at which the curve reaches `target` (falling curves only):
        0 when it is already at or below it everywhere, inf when its floor is not below it."""
        if self.c >= target:
            return math.inf
        if self.a <= 0:
            return 0.0
        n = self.n_ref * (self.a / (target - self.c)) ** (1 / self.b)
        return n if n <= MAX_FORECAST_N else math.inf


def fit_power_law(
    n: npt.ArrayLike,
    error: npt.ArrayLike,
    sigma: npt.ArrayLike | None = None,
    shape: CurveShape = "falling",
) -> PowerLaw:
    """Weighted least-squares fit of c + a * (n/n_ref)^-b with c >= 0 and a of the `shape`'s
    sign.

    Args:
        n: training-set sizes, at least three distinct.
        error: the error measured at each size.
        sigma: each point's standard error (weights are 1 / sigma^2); None weighs them alike.
        shape: "falling" (a >= 0: dev error), "rising" (a <= 0) or "any" (training error,
            which rises as a model memorises less of a bigger set, and falls for a model
            that memorises nothing).
    """
    errors = np.asarray(error, dtype=float)[None, :]
    sigmas = None if sigma is None else np.asarray(sigma, dtype=float)[None, :]
    return fit_power_laws(n, errors, sigmas, shape)[0]


def fit_power_laws(
    n: npt.ArrayLike,
    errors: npt.ArrayLike,
    sigma: npt.ArrayLike | None = None,
    shape: CurveShape = "falling",
) -> list[PowerLaw]:
    """`fit_power_law` for many curves measured at the same sizes (one row of `errors` and
    `sigma` per curve, such as the bootstrap's resamples), all fitted at once."""
    sizes = np.asarray(n, dtype=float)
    if len(np.unique(sizes)) < 3:
        raise ValueError("a power law with three parameters needs at least three sizes")
    n_ref = float(sizes.max())
    x, y = sizes / n_ref, np.asarray(errors, dtype=float)
    w = np.ones_like(y) if sigma is None else 1.0 / np.maximum(sigma, 1e-6) ** 2
    sign = SHAPE_SIGNS[shape]
    grid = np.broadcast_to(B_GRID, (len(y), len(B_GRID)))
    for _ in range(REFINEMENTS + 1):
        losses, c, a = _profile(grid, x, y, w, sign)
        best = np.argmin(losses, axis=1)
        rows = np.arange(len(y))
        low = grid[rows, np.maximum(best - 1, 0)]
        high = grid[rows, np.minimum(best + 1, grid.shape[1] - 1)]
        b = grid[rows, best]
        grid = np.geomspace(low, high, 17, axis=1)
    c, a = c[rows, best], a[rows, best]
    laws = zip(c, a, b, strict=True)
    return [PowerLaw(float(ci), float(ai), float(bi), n_ref) for ci, ai, bi in laws]


def _profile(
    b: FloatArray, x: FloatArray, y: FloatArray, w: FloatArray, sign: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(weighted squared error, c, a), each (curves, b values), of the best c >= 0 and
    sign * a >= 0 for every curve (a row of y and w) and each of its b values (a row of b).

    Three candidates, each used only where feasible: a flat line (a = 0), a curve through
    zero (c = 0) and the unconstrained solution. Losses come from weighted sums, so nothing
    bigger than curves x b values x points is ever built.
    """
    z = x[None, None, :] ** (-b[:, :, None])  # (curves, b values, points)
    wz = w[:, None, :] * z
    sw, sy = w.sum(axis=1)[:, None], (w * y).sum(axis=1)[:, None]
    syy = (w * y * y).sum(axis=1)[:, None]
    sz, szz = wz.sum(axis=2), (wz * z).sum(axis=2)
    szy = (wz * y[:, None, :]).sum(axis=2)
    det = sw * szz - sz * sz
    with np.errstate(divide="ignore", invalid="ignore"):
        a_free = (sw * szy - sz * sy) / det
        candidates = [
            # The best flat line with c >= 0: the weighted mean, or 0 below it.
            (np.broadcast_to(np.maximum(sy / sw, 0), sz.shape), np.zeros_like(sz), True),
            (np.zeros_like(sz), szy / szz, sign * szy / szz >= 0),
        ]
        c_free = (sy - a_free * sz) / sw
        ok = (det > 1e-12 * sw * szz) & (c_free >= 0) & (sign * a_free >= 0)
        candidates.append((c_free, a_free, ok))
    best_loss = np.full(sz.shape, np.inf)
    best_c, best_a = np.zeros(sz.shape), np.zeros(sz.shape)
    for c, a, feasible in candidates:
        loss = syy - 2 * c * sy - 2 * a * szy + c * c * sw + 2 * c * a * sz + a * a * szz
        better = np.asarray(feasible) & np.isfinite(loss) & (loss < best_loss)
        best_loss = np.where(better, loss, best_loss)
        best_c, best_a = np.where(better, c, best_c), np.where(better, a, best_a)
    return best_loss, best_c, best_a


def binomial_sigma(errors: npt.ArrayLike, n: npt.ArrayLike) -> FloatArray:
    """Standard error of an error rate from counts, never zero (add-one smoothing): a point
    with no errors seen is not known exactly."""
    k, size = np.asarray(errors, dtype=float), np.asarray(n, dtype=float)
    p = (k + 1) / (size + 2)
    sigma: FloatArray = np.sqrt(p * (1 - p) / np.maximum(size, 1))
    return sigma


def percentile_interval(values: npt.ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """The bootstrap percentile interval; inf values (a forecast that never arrives) count
    as the largest, and no interpolation mixes them with finite ones."""
    drawn = np.asarray(values, dtype=float)
    tail = (1 - level) / 2 * 100
    low = float(np.percentile(drawn, tail, method="lower"))
    high = float(np.percentile(drawn, 100 - tail, method="higher"))
    return low, high
