"""Welch's test and interval against hand computations."""

import math

import pytest

from lgl_spl.report.stats import welch, welch_df


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
