"""Welch's comparison of a method's per-seed accuracies with ``random``'s, an exact
rank test beside it, and the corrections for testing many methods in one report.

A report tests every method against ``random`` in every block: dozens of tests at once,
of which about ALPHA × their number reach p < ALPHA by chance alone. The ▲ / ▼ marks
therefore follow Holm's adjusted p-value within the report's family (its final-accuracy
comparisons; the best-validation comparisons are a second family), and Benjamini–
Hochberg's q is given beside it. Collapsing runs (a seed at chance) make the per-seed
values bimodal, where Welch's normal approximation is poor; the exact Mann–Whitney test
uses only the order of the seeds.

scipy is imported inside the functions that use it so that importing the report stays
cheap.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Sequence
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
    # Holm's adjusted p within the report's family (see :func:`adjust`); a comparison made
    # alone is its own family of one (p_holm = p).
    p_holm: float | None = None
    q_bh: float | None = None  # Benjamini–Hochberg q within the same family
    p_rank: float | None = None  # exact two-sided Mann–Whitney U p-value (see :func:`rank_test`)

    @property
    def significant(self) -> bool:
        """Holm-adjusted p < ALPHA (the raw p when no family was set)."""
        p = self.p_holm if self.p_holm is not None else self.p
        return p is not None and p < ALPHA

    @property
    def significant_raw(self) -> bool:
        """Welch's p < ALPHA before any correction."""
        return self.p is not None and self.p < ALPHA

    @property
    def rank_disagrees(self) -> bool:
        """Welch and the rank test fall on different sides of ALPHA (both unadjusted)."""
        if self.p is None or self.p_rank is None:
            return False
        return (self.p < ALPHA) != (self.p_rank < ALPHA)

    @property
    def mark(self) -> str:
        """``▲`` better, ``▼`` worse than the reference at Holm p < ALPHA, else empty."""
        if not self.significant:
            return ""
        return "▲" if self.delta > 0 else "▼"


def mean_std(values: Sequence[float | None], *, skip_missing: bool = False):
    """Mean and sample standard deviation (ddof=1; None with one value); (None, None)
    without values. ``skip_missing`` drops None and non-finite values first (a metric some
    runs did not log); otherwise a NaN makes the mean NaN, shown n/a: a seed without a
    result is not averaged away."""
    if skip_missing:
        values = [v for v in values if v is not None]
    a = np.asarray(values, np.float64)
    if skip_missing:
        a = a[np.isfinite(a)]
    if not a.size:
        return None, None
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else None


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
        int(a.size),
        int(b.size),
        delta,
        [delta - half, delta + half],
        p,
        df,
        within,
        None,
        p_holm=p,
        q_bh=p,
        p_rank=rank_test(a, b),
    )


# Above this many ways to split the seeds the exact test is replaced by scipy's
# normal approximation (more than 2 × 10 seeds; the reports have at most 5 + 5).
EXACT_LIMIT = 200_000


def rank_test(values: Sequence[float], reference: Sequence[float]) -> float | None:
    """Exact two-sided Mann–Whitney U test (a permutation test of the rank sum).

    Every way of splitting the pooled seeds into groups of the two sizes is enumerated;
    tied values share their mean rank, so the test stays exact with ties. The p-value is
    the share of splits whose U is at least as far from its mean as the observed one.
    With 3 seeds a side the smallest possible p is 2 / 20 = 0.1, with 5 it is
    2 / 252 ≈ 0.008: a 3-seed block can never separate by ranks at ALPHA. None when a
    side has fewer than 2 values.
    """
    a = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
    b = np.asarray([v for v in reference if v is not None and math.isfinite(v)], np.float64)
    if a.size < 2 or b.size < 2:
        return None
    if math.comb(a.size + b.size, a.size) > EXACT_LIMIT:
        from scipy import stats

        return float(stats.mannwhitneyu(a, b, method="asymptotic").pvalue)
    pooled = np.concatenate([a, b])
    from scipy.stats import rankdata

    ranks = rankdata(pooled)  # mean ranks on ties
    n = a.size
    centre = n * (pooled.size + 1) / 2  # the rank sum's mean under no difference
    observed = abs(ranks[:n].sum() - centre)
    sums = np.array([ranks[list(c)].sum() for c in itertools.combinations(range(pooled.size), n)])
    # A small tolerance: rank sums are multiples of 0.5, compared after float sums.
    return float(np.mean(np.abs(sums - centre) >= observed - 1e-9))


def holm(p_values: Iterable[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None and is not counted)."""
    p = list(p_values)
    index = sorted((i for i, x in enumerate(p) if x is not None), key=lambda i: p[i])
    m = len(index)
    out: list[float | None] = [None] * len(p)
    running = 0.0
    for k, i in enumerate(index):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out


def benjamini_hochberg(p_values: Iterable[float | None]) -> list[float | None]:
    """Benjamini–Hochberg q-values (false discovery rate; None stays None and is not
    counted): scipy's ``false_discovery_control``."""
    p = list(p_values)
    index = [i for i, x in enumerate(p) if x is not None]
    out: list[float | None] = [None] * len(p)
    if index:
        from scipy.stats import false_discovery_control

        q = false_discovery_control([p[i] for i in index], method="bh")
        for i, value in zip(index, q, strict=True):
            out[i] = float(value)
    return out


def adjust(family: Sequence[Comparison | None]) -> None:
    """Set ``p_holm`` and ``q_bh`` of every comparison in ``family`` (one report's tests of
    one kind) in place; those without a p-value are left out of the count."""
    members = [c for c in family if c is not None and c.p is not None]
    for c, h, q in zip(
        members,
        holm(c.p for c in members),
        benjamini_hochberg(c.p for c in members),
        strict=True,
    ):
        c.p_holm, c.q_bh = h, q
