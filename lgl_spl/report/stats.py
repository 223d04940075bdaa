"""Welch's comparison of a method's per-seed accuracies with ``random``'s.

scipy is imported inside :func:`welch` so that importing the report stays cheap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # significance level of the ▲ / ▼ marks; the interval is 1 − ALPHA


@dataclass
class Comparison:
    """Method − reference, on per-seed values (fractions for accuracies)."""

    n: int  # seeds of the method
    n_ref: int  # seeds of the reference
    delta: float  # mean(method) − mean(reference)
    ci95: list[float] | None  # [low, high] of delta; None when ``why_na``
    p: float | None  # Welch's two-sided p-value; None when ``why_na``
    df: float | None  # Welch–Satterthwaite degrees of freedom
    # |delta| < 2 × the larger of the two sample standard deviations: the seeds do not
    # separate the two, whatever p says. None when a side has one seed.
    within_two_std: bool | None
    why_na: str | None  # why there is no p-value or interval

    @property
    def significant(self) -> bool:
        return self.p is not None and self.p < ALPHA

    @property
    def mark(self) -> str:
        """``▲`` better, ``▼`` worse than the reference at p < ALPHA, else empty."""
        if not self.significant:
            return ""
        return "▲" if self.delta > 0 else "▼"


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom of a difference of two means."""
    ua, ub = var_a / n_a, var_b / n_b
    return (ua + ub) ** 2 / (ua**2 / (n_a - 1) + ub**2 / (n_b - 1))


def welch(values: Sequence[float], reference: Sequence[float]) -> Comparison | None:
    """Welch's t-test (unequal variances) and the 95 % interval of the difference of means.

    Returns None when either side has no values. With fewer than two seeds on a side,
    or no spread on either side, the test is undefined: ``p`` and ``ci95`` are None and
    ``why_na`` says why (``delta`` is still the difference of the means).
    """
    a = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
    b = np.asarray([v for v in reference if v is not None and math.isfinite(v)], np.float64)
    if a.size == 0 or b.size == 0:
        return None
    delta = float(a.mean() - b.mean())
    why = None
    if a.size < 2 or b.size < 2:
        why = "fewer than 2 seeds"
        within = None
    else:
        var_a, var_b = float(a.var(ddof=1)), float(b.var(ddof=1))
        within = abs(delta) < 2 * math.sqrt(max(var_a, var_b))
        if var_a == 0 and var_b == 0:
            why = "no spread over seeds on either side"
    if why is not None:
        return Comparison(int(a.size), int(b.size), delta, None, None, None, within, why)

    from scipy import stats

    se = math.sqrt(var_a / a.size + var_b / b.size)
    df = welch_df(var_a, a.size, var_b, b.size)
    half = float(stats.t.ppf(1 - ALPHA / 2, df)) * se
    with warnings.catch_warnings():
        # One side without spread (identical seeds) makes scipy warn about precision
        # loss in its moments; the variance is then exactly 0, which is what we want.
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return Comparison(
        int(a.size), int(b.size), delta, [delta - half, delta + half], p, df, within, None
    )
