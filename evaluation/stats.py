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


def mcnemar_exact_p_value(b: int, c: int) -> float:
    """Exact two-sided McNemar test: discordant pairs b and c against Binomial(b + c, 1/2).

    b counts pairs where only the first model is wrong, c those where only the second is.
    The p-value is 2 * P(X <= min(b, c)), capped at 1, which is what
    scipy.stats.binomtest(min(b, c), b + c, 0.5) returns for a symmetric null. The tail is
    summed from its largest term down in log space, stopping once terms no longer change the
    sum, so a million discordant pairs cost a few thousand terms, not a million.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got {b} and {c}")
    n, k = b + c, min(b, c)
    if n == 0 or 2 * k == n:
        return 1.0
    log_term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    total, term = 0.0, 1.0  # terms relative to P(X = k)
    for i in range(k, -1, -1):
        total += term
        term *= i / (n - i + 1)  # P(X = i - 1) / P(X = i)
        if term < total * 1e-17:
            break
    return min(1.0, 2 * math.exp(log_term + math.log(total)))


def paired_difference_interval(
    b: int, c: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for the paired difference (c - b) / n: the second model's error minus the first's.

    Bonett and Price's adjusted Wald interval for paired proportions (2012): add one to each
    discordant count and two to n, then a Wald interval. It keeps close to nominal coverage
    down to small n and zero discordant pairs, where the plain Wald interval collapses.
    """
    if n < 1 or b < 0 or c < 0 or b + c > n:
        raise ValueError(f"need 0 <= b + c <= n and n >= 1, got b={b}, c={c}, n={n}")
    z = z_for(confidence)
    p_first, p_second = (b + 1) / (n + 2), (c + 1) / (n + 2)
    d = p_second - p_first
    half = z * math.sqrt((p_first + p_second - d * d) / (n + 2))
    return max(-1.0, d - half), min(1.0, d + half)


def minimum_detectable_difference(
    discordant: int, n: int, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest paired difference in error rate a two-sided McNemar test at `alpha` would
    detect with `power`, given the observed share of discordant pairs (Connor's 1987 normal
    approximation, solved for the difference: (z_a/2 + z_b) * sqrt(psi / n)). With no
    discordant pair yet, one is assumed: a sample cannot promise more than that."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    psi = max(discordant, 1) / n
    z_alpha = _STANDARD_NORMAL.inv_cdf(1 - alpha / 2)
    z_power = _STANDARD_NORMAL.inv_cdf(power)
    return min(1.0, (z_alpha + z_power) * math.sqrt(psi / n))
