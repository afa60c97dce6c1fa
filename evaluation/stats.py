"""Small-sample statistics for error rates, on the standard library alone (no scipy).

Error rates are binomial proportions: `errors` mistakes out of `n` examples. Intervals use
Wilson's score method, which stays inside [0, 1] and behaves at 0 and n errors, where the
textbook Wald interval collapses to a point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Literal

Alternative = Literal["greater", "less", "two-sided"]
_STANDARD_NORMAL = NormalDist()


def z_for(confidence: float) -> float:
    """The two-sided critical value: z such that P(|Z| <= z) = confidence."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    return _STANDARD_NORMAL.inv_cdf(0.5 + confidence / 2)


def one_sided_level(confidence: float) -> float:
    """The two-sided level whose lower end is a one-sided bound at `confidence` (0.95 -> 0.90)."""
    if not 0.5 < confidence < 1:
        raise ValueError(f"a one-sided confidence must be in (0.5, 1), got {confidence}")
    return round(2 * confidence - 1, 12)  # 2 * 0.95 - 1 is 0.8999999999999999 in floats


def _check_counts(errors: int, n: int) -> None:
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0 <= errors <= n:
        raise ValueError(f"errors must be between 0 and n={n}, got {errors}")


def wilson_interval(errors: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for the error rate `errors / n`."""
    _check_counts(errors, n)
    z = z_for(confidence)
    p = errors / n
    shrink = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / shrink
    half = (z / shrink) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # The clamps only absorb float rounding at 0 and n errors; the exact bounds already hold.
    return min(max(0.0, centre - half), p), max(min(1.0, centre + half), p)


def difference_interval(
    e1: int, n1: int, e2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for p2 - p1 by Newcombe's hybrid score method (his "method 10", 1998).

    Each rate gets its own Wilson interval, (l1, u1) and (l2, u2); the difference d = p2 - p1
    then runs from d - sqrt((p2 - l2)² + (u1 - p1)²) to d + sqrt((u2 - p2)² + (p1 - l1)²).
    Each side combines the two distances that push d that way, so the interval is asymmetric
    where the Wilson intervals are, and it keeps good coverage for small n and rates near 0.
    """
    l1, u1 = wilson_interval(e1, n1, confidence)
    l2, u2 = wilson_interval(e2, n2, confidence)
    p1, p2 = e1 / n1, e2 / n2
    d = p2 - p1
    return d - math.hypot(p2 - l2, u1 - p1), d + math.hypot(u2 - p2, p1 - l1)


def two_proportion_p_value(
    e1: int, n1: int, e2: int, n2: int, alternative: Alternative = "greater"
) -> float:
    """Pooled two-proportion z test; "greater" tests p2 > p1.

    When both samples are all errors or all correct there is no variation to test, and the
    p-value is 1 (no evidence of a difference).
    """
    _check_counts(e1, n1)
    _check_counts(e2, n2)
    pooled = (e1 + e2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (e2 / n2 - e1 / n1) / se
    if alternative == "greater":
        return 1 - _STANDARD_NORMAL.cdf(z)
    if alternative == "less":
        return _STANDARD_NORMAL.cdf(z)
    if alternative == "two-sided":
        return min(1.0, 2 * (1 - _STANDARD_NORMAL.cdf(abs(z))))
    raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (controls the family-wise error rate), in input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        # Taking the running maximum keeps adjusted values in the same order as the raw ones.
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg step-up adjustment (controls the false discovery rate), in input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for position, i in enumerate(order):
        rank = m - position  # 1-based rank in ascending order
        # Walking down from the largest p, the running minimum enforces monotonicity.
        running = min(running, m / rank * p_values[i])
        adjusted[i] = running
    return adjusted
