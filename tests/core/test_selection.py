"""spl / spl_inv / spld selection against slow numpy references."""

import chex
import jax
import numpy as np
import pytest
from absl.testing import parameterized
from hypothesis import given, settings
from hypothesis import strategies as st

import lgl_spl as L


# float32 values, with magnitudes below 1e-30 snapped to 0: XLA on CPU flushes subnormal
# inputs and results (e.g. a tiny γ / (√i + √(i−1))) to zero, so a threshold of 1e-45 is 0 on
# device but not in a numpy reference. That is a disagreement about arithmetic, not the rule.
def f32(lo, hi):
    return st.floats(lo, hi, width=32).map(lambda x: 0.0 if abs(x) < 1e-30 else x)


def spld_reference(losses, groups, lam, gamma):
    """Loop over groups; rank by (loss, index); select iff loss < threshold(rank)."""
    losses = np.asarray(losses, np.float32)
    keep = np.zeros(len(losses), bool)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        order = idx[np.lexsort((idx, losses[idx]))]
        for rank, i in enumerate(order, start=1):
            thr = np.float32(lam) + np.float32(gamma) / (
                np.sqrt(np.float32(rank)) + np.sqrt(np.float32(rank - 1))
            )
            keep[i] = losses[i] < thr
    return keep


def random_case(seed, n, num_groups, ties):
    rng = np.random.default_rng(seed)
    if ties:
        losses = rng.integers(0, 5, n).astype(np.float32) / 4
    else:
        losses = rng.random(n).astype(np.float32)
    groups = rng.integers(0, num_groups, n).astype(np.int32)
    return losses, groups


class SpldTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(
        n=[1, 7, 100, 2000], num_groups=[1, 5, 300], ties=[False, True], seed=[0, 1]
    )
    def test_matches_reference(self, n, num_groups, ties, seed):
        losses, groups = random_case(seed, n, num_groups, ties)
        lam = float(np.quantile(losses, 0.4))
        gamma = 0.3 * max(lam, 0.1)
        fn = self.variant(lambda x, g, a, b: L.spld_select(x, g, a, b, num_groups=num_groups))
        got = fn(losses, groups, lam, gamma)
        chex.assert_shape(got, (n,))
        chex.assert_type(got, bool)
        np.testing.assert_array_equal(np.asarray(got), spld_reference(losses, groups, lam, gamma))

    def test_all_losses_equal_breaks_ties_by_index(self):
        losses = np.full(10, 0.5, np.float32)
        groups = np.zeros(10, np.int32)
        # thresholds 0.4 + 0.5(√i − √(i−1)): 0.9, 0.607, …, 0.5067 (i=6), 0.498 (i=7)
        lam, gamma = 0.4, 0.5
        got = np.asarray(L.spld_select(losses, groups, lam, gamma))
        np.testing.assert_array_equal(got, spld_reference(losses, groups, lam, gamma))
        np.testing.assert_array_equal(np.flatnonzero(got), np.arange(6))

    def test_empty_groups_and_singletons(self):
        losses = np.array([0.3, 0.9, 0.2], np.float32)
        groups = np.array([0, 4, 7], np.int32)  # groups 1-3, 5, 6 are empty
        got = L.spld_select(losses, groups, 0.5, 0.1, num_groups=9)
        np.testing.assert_array_equal(np.asarray(got), [True, False, True])

    def test_negative_gamma_is_still_exact(self):
        losses, groups = random_case(3, 500, 7, ties=False)
        got = L.spld_select(losses, groups, 0.6, -0.2)
        np.testing.assert_array_equal(np.asarray(got), spld_reference(losses, groups, 0.6, -0.2))

    def test_nan_losses_never_selected(self):
        losses = np.array([np.nan, 0.1, 0.2, np.nan], np.float32)
        groups = np.array([0, 0, 1, 1], np.int32)
        got = np.asarray(L.spld_select(losses, groups, 1.0, 0.5))
        np.testing.assert_array_equal(got, [False, True, True, False])

    def test_selection_is_prefix_of_each_group(self):
        losses, groups = random_case(5, 3000, 20, ties=False)
        keep = np.asarray(L.spld_select(losses, groups, 0.3, 0.4))
        for g in range(20):
            idx = np.flatnonzero(groups == g)
            sorted_keep = keep[idx[np.argsort(losses[idx], kind="stable")]]
            n_sel = sorted_keep.sum()
            assert sorted_keep[:n_sel].all() and not sorted_keep[n_sel:].any()

    def test_compiles_once(self):
        @jax.jit
        @chex.assert_max_traces(n=1)
        def select(losses, groups, lam, gamma):
            return L.spld_select(losses, groups, lam, gamma, num_groups=8)

        inner = L.core.selection._spld_select
        before = inner._cache_size()
        for seed in range(3):
            losses, groups = random_case(seed, 256, 8, ties=False)
            select(losses, groups, 0.1 * seed, 0.2)
            L.spld_select(losses, groups, 0.1 * seed, 0.2, num_groups=8)
        assert inner._cache_size() - before <= 2  # once traced inside `select`, once eagerly


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    losses=st.lists(
        st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0]) | f32(0, 3),
        min_size=1,
        max_size=60,
    ),
    data=st.data(),
    lam=f32(-0.5, 3),
    gamma=f32(0, 3),
)
def test_spld_property(losses, data, lam, gamma):
    n = len(losses)
    groups = np.asarray(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), np.int32)
    losses = np.asarray(losses, np.float32)
    got = np.asarray(L.spld_select(losses, groups, lam, gamma, num_groups=5))
    np.testing.assert_array_equal(got, spld_reference(losses, groups, lam, gamma))


@pytest.mark.parametrize("n", [1, 10, 1001])
def test_spl_and_spl_inv(n):
    rng = np.random.default_rng(n)
    losses = rng.random(n).astype(np.float32)
    lam = 0.4
    np.testing.assert_array_equal(np.asarray(L.spl_select(losses, lam)), losses < lam)
    np.testing.assert_array_equal(np.asarray(L.spl_inv_select(losses, lam)), losses > lam)
    chex.assert_type(L.spl_select(losses, lam), bool)


# ---- the cap (method.max_fraction) --------------------------------------------------------


def margins_reference(losses, groups, gamma):
    out = np.zeros(len(losses), np.float32)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        order = idx[np.lexsort((idx, losses[idx]))]
        for rank, i in enumerate(order, start=1):
            out[i] = losses[i] - np.float32(gamma) / (np.sqrt(rank) + np.sqrt(rank - 1))
    return out


def cap_reference(keep, scores, max_count):
    kept = np.flatnonzero(keep)
    chosen = kept[np.lexsort((kept, scores[kept]))][:max_count]
    out = np.zeros(len(keep), bool)
    out[chosen] = True
    return out


class CapTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(n=[1, 50, 1000], ties=[False, True], seed=[0, 1])
    def test_margins_and_cap_match_references(self, n, ties, seed):
        losses, groups = random_case(seed, n, 7, ties)
        margins = self.variant(lambda x, g: L.spld_margins(x, g, 0.4, num_groups=7))(losses, groups)
        np.testing.assert_allclose(
            margins, margins_reference(losses, groups, 0.4), rtol=1e-6, atol=1e-6
        )
        keep = np.random.default_rng(seed).random(n) < 0.7
        for count in (0, 1, n // 3, n):
            got = self.variant(L.cap_selection)(keep, losses, count)
            np.testing.assert_array_equal(got, cap_reference(keep, losses, count))
            assert int(np.sum(got)) == min(count, int(keep.sum()))

    def test_spld_with_its_margins_capped_is_the_best_subset_of_that_size(self):
        """SPLD's objective, Σ v·L − λ Σ v − γ Σ_g ‖v_g‖₂, over subsets of size M: the cap's
        choice is the optimum (brute force over every subset of a small problem)."""
        import itertools

        rng = np.random.default_rng(3)
        losses = rng.random(9).astype(np.float32)
        groups = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2], np.int32)
        lam, gamma, size = 0.8, 0.5, 4

        def objective(v):
            per_group = [np.sqrt(v[groups == g].sum()) for g in range(3)]
            return float(v @ losses - lam * v.sum() - gamma * sum(per_group))

        best = min(
            (np.isin(np.arange(9), c) for c in itertools.combinations(range(9), size)),
            key=lambda v: objective(v.astype(np.float64)),
        )
        keep = L.spld_select(losses, groups, lam, gamma, num_groups=3)
        assert int(keep.sum()) > size  # the cap binds
        margins = L.spld_margins(losses, groups, gamma, num_groups=3)
        capped = np.asarray(L.cap_selection(keep, margins, size))
        np.testing.assert_allclose(
            objective(capped.astype(np.float64)), objective(best.astype(np.float64)), rtol=1e-6
        )


def test_pace_fraction_is_capped():
    assert float(L.pace_fraction(20, max_fraction=0.6)) == pytest.approx(0.6)
    p = L.pace(np.linspace(0, 1, 101, dtype=np.float32), 20, max_fraction=0.6)
    assert np.isfinite(float(p.lam)) and float(p.lam) == pytest.approx(0.6, abs=1e-6)
