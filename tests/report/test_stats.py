"""Welch's test and interval against hand computations."""

import math

import numpy as np
import pytest

from lgl_spl.report.stats import adjust, benjamini_hochberg, holm, rank_test, welch, welch_df


def test_interval_matches_a_hand_computation():
    # Equal sizes and variances: df = 2 (n − 1) = 4, se = sqrt(1/3 + 1/3).
    c = welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    t_975_4 = 2.7764451051977934  # Student's t, 97.5 % quantile, 4 df (tables: 2.776)
    half = t_975_4 * math.sqrt(2 / 3)
    assert c.delta == pytest.approx(-3.0)
    assert c.df == pytest.approx(4.0)
    assert c.ci95 == pytest.approx([-3.0 - half, -3.0 + half])
    assert c.ci95 == pytest.approx([-5.26696, -0.73304], abs=1e-5)
    # t = −3 / sqrt(2/3) = −3.674 on 4 df: two-sided p = 0.0213.
    assert c.p == pytest.approx(0.0213116, abs=1e-6)
    assert c.mark == "▼" and c.significant


def test_welch_satterthwaite_df_by_hand_with_unequal_variances():
    a, b = [0.80, 0.82, 0.85, 0.81], [0.70, 0.75]
    # Sample variances: 0.0014 / 3 and 0.00125 / 1; squared standard errors over n.
    ua, ub = 0.0014 / 3 / 4, 0.00125 / 2
    df = (ua + ub) ** 2 / (ua**2 / 3 + ub**2 / 1)
    assert df == pytest.approx(1.39201, abs=1e-5)
    assert welch_df(0.0014 / 3, 4, 0.00125, 2) == pytest.approx(df)
    c = welch(a, b)
    assert c.df == pytest.approx(df)
    assert c.delta == pytest.approx(0.82 - 0.725)
    # Few degrees of freedom: a wide interval that includes 0, so no mark.
    assert c.ci95[0] < 0 < c.ci95[1]
    assert c.p == pytest.approx(0.11974, abs=1e-5)
    assert c.mark == "" and not c.significant
    assert c.within_two_std is False  # 9.5 points against 2 × 3.5 points


def test_identical_groups_give_p_one():
    c = welch([0.80, 0.82, 0.85], [0.80, 0.82, 0.85])
    assert c.delta == pytest.approx(0.0, abs=1e-12)
    assert c.p == pytest.approx(1.0)
    assert c.ci95[0] < 0 < c.ci95[1]
    assert c.within_two_std is True and c.mark == ""


def test_planted_difference_is_significant_both_ways():
    better = welch([0.90, 0.91, 0.92], [0.80, 0.81, 0.82])
    assert better.p < 0.05 and better.mark == "▲"
    worse = welch([0.80, 0.81, 0.82], [0.90, 0.91, 0.92])
    assert worse.p == pytest.approx(better.p) and worse.mark == "▼"


def test_undefined_cases_give_none_not_numbers():
    one = welch([0.9], [0.80, 0.81, 0.82])
    assert (one.p, one.ci95, one.df, one.within_two_std) == (None, None, None, None)
    assert one.why_na == "fewer than 2 seeds" and one.mark == ""
    assert one.delta == pytest.approx(0.09)

    flat = welch([0.9, 0.9], [0.8, 0.8])
    assert (flat.p, flat.ci95) == (None, None)
    assert flat.why_na.startswith("no spread")
    assert flat.within_two_std is False  # 10 points apart, no spread at all

    # Spread on one side only is still a test (df = n − 1 of the other side).
    half = welch([0.9, 0.9, 0.9], [0.80, 0.81, 0.82])
    assert half.df == pytest.approx(2.0) and half.p < 0.05

    assert welch([], [0.8, 0.9]) is None
    assert welch([0.8, float("nan")], [0.8, 0.9]).n == 1  # NaN seeds are left out


def test_holm_and_benjamini_hochberg_by_hand():
    p = [0.01, 0.04, 0.03, None, 0.005]
    # Sorted 0.005, 0.01, 0.03, 0.04 (m = 4): Holm 4×, 3×, 2×, 1×, kept non-decreasing.
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, None, 0.02])
    # BH: m·p/rank = 0.02, 0.02, 0.04, 0.04, then the running minimum from the top.
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, None, 0.02])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 2 × 0.8 capped at 1; monotone


def test_rank_test_matches_scipy_exact_and_its_floor():
    from scipy import stats

    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.normal(size=5), rng.normal(size=4) + 1
        assert rank_test(a, b) == pytest.approx(stats.mannwhitneyu(a, b, method="exact").pvalue)
    # Complete separation: 2 of the C(6, 3) = 20 splits are as extreme (both directions).
    assert rank_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.1)
    assert rank_test([6.0, 7, 8, 9, 10], [1.0, 2, 3, 4, 5]) == pytest.approx(2 / 252)
    assert rank_test([1.0], [2.0, 3.0]) is None


def test_rank_test_is_exact_with_ties_and_ignores_a_collapsed_seeds_size():
    # Identical samples: every split is at least as extreme as the observed (none): p = 1.
    assert rank_test([0.5, 0.5, 0.6], [0.5, 0.5, 0.6]) == pytest.approx(1.0)
    # A seed at chance inflates the spread (Welch's p) but not the ranks: all five seeds
    # are still below the reference's, the most extreme of 252 splits.
    collapsed = [0.25, 0.26, 0.27, 0.28, 0.0]
    reference = [0.30, 0.31, 0.32, 0.33, 0.34]
    c = welch(collapsed, reference)
    assert c.p > 0.05 and c.p_rank == pytest.approx(rank_test(collapsed, reference))
    assert c.p_rank == pytest.approx(2 / 252) and c.rank_disagrees


def test_holm_decides_the_marks_of_a_family():
    strong = welch([0.90, 0.91, 0.92], [0.80, 0.81, 0.82])  # p ≈ 0.0002
    weak = welch([0.84, 0.85, 0.87], [0.80, 0.81, 0.82])  # 0.01 < p < 0.05
    nulls = [welch([0.80, 0.82, 0.81 + i / 1000], [0.80, 0.81, 0.82]) for i in range(4)]
    assert weak.significant and weak.mark == "▲"  # alone it is a family of one
    adjust([strong, weak, None, *nulls])
    assert strong.p_holm == pytest.approx(6 * strong.p) and strong.mark == "▲"
    assert weak.p_holm == pytest.approx(min(1.0, 5 * weak.p))
    assert weak.significant_raw and not weak.significant and weak.mark == ""
    assert weak.q_bh == pytest.approx(6 * weak.p / 2)
