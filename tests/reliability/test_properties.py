"""Property-based tests (hypothesis) of the selection rule, the pace rule and k-means.

Shapes are fixed per test (values vary), so each property compiles once. The numpy
reference of SPLD is reused from tests/core/test_selection.py, which also checks
exact agreement with it over random sizes (test_spld_property).
"""

import jax
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lgl_spl as L
from tests.core.test_selection import f32, spld_reference

N = 32
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)

losses_st = st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]) | f32(0, 4), min_size=N, max_size=N)
groups_st = st.lists(st.integers(0, 3), min_size=N, max_size=N)


def _select(losses, groups, lam, gamma):
    return np.asarray(L.spld_select(losses, groups, lam, gamma, num_groups=4))


@SETTINGS
@given(losses_st, groups_st, f32(-1, 4), f32(0, 4))
def test_spld_selects_a_prefix_of_each_group(losses, groups, lam, gamma):
    losses, groups = np.asarray(losses, np.float32), np.asarray(groups, np.int32)
    keep = _select(losses, groups, lam, gamma)
    np.testing.assert_array_equal(keep, spld_reference(losses, groups, lam, gamma))
    for g in range(4):
        idx = np.flatnonzero(groups == g)
        ranked = keep[idx[np.lexsort((idx, losses[idx]))]]  # by (loss, index)
        assert not np.any(ranked[1:] & ~ranked[:-1]), "a selected example after an unselected"


@SETTINGS
@given(
    losses_st,
    groups_st,
    f32(-1, 3),
    f32(0, 2),
    f32(0, 1),
    f32(0, 1),
)
def test_spld_grows_with_lambda_and_gamma(losses, groups, lam, gamma, dlam, dgamma):
    losses, groups = np.asarray(losses, np.float32), np.asarray(groups, np.int32)
    base = _select(losses, groups, lam, gamma)
    assert np.all(_select(losses, groups, lam + dlam, gamma) >= base)
    assert np.all(_select(losses, groups, lam, gamma + dgamma) >= base)


distinct_st = st.lists(f32(0, 4), min_size=N, max_size=N, unique=True)


@SETTINGS
@given(distinct_st, groups_st, st.lists(st.booleans(), min_size=N, max_size=N), st.integers(0, 99))
def test_spld_never_selects_nan_and_follows_a_permutation(losses, groups, nan, seed):
    # Distinct losses: ties are broken by index, which a permutation does not carry along.
    losses = np.where(nan, np.nan, np.asarray(losses, np.float32)).astype(np.float32)
    groups = np.asarray(groups, np.int32)
    keep = _select(losses, groups, 2.0, 1.0)
    assert not np.any(keep & np.isnan(losses))
    perm = np.random.default_rng(seed).permutation(N)
    np.testing.assert_array_equal(_select(losses[perm], groups[perm], 2.0, 1.0), keep[perm])


pace_losses = st.lists(f32(0, 10), min_size=16, max_size=16, unique=True)


# pace() compiles once per (q0, β1, β2, g0): a run's constants. A few values each keep
# the number of compilations small; the losses and the round vary freely.
@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    pace_losses,
    st.integers(0, 40),
    st.sampled_from([0.05, 0.5, 1.0]),
    st.sampled_from([0.0, 0.5]),
    st.just(0.2),
    st.sampled_from([0.0, 2.0]),
)
def test_pace_rule(losses, e, q0, beta1, beta2, g0):
    losses = np.asarray(losses, np.float32)
    kw = dict(q0=q0, beta1=beta1, beta2=beta2, g0=g0)
    p = L.pace(losses, e, **kw)
    q = min(1.0, q0 * (1 + beta1) ** e)
    np.testing.assert_allclose(float(p.fraction), q, rtol=1e-5)
    assert float(L.pace(losses, e + 1, **kw).fraction) >= float(p.fraction)  # never shrinks
    if float(p.fraction) >= 1.0:  # everything is selected, by every rule
        assert float(p.lam) == np.inf and float(p.lam_inv) == -np.inf and float(p.gamma) == 0
        assert np.all(L.spl_select(losses, p.lam)) and np.all(L.spl_inv_select(losses, p.lam_inv))
        return
    frac = float(p.fraction)
    np.testing.assert_allclose(float(p.lam), np.quantile(losses, frac), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        float(p.gamma), g0 * (1 + beta2) ** e * float(p.lam), rtol=1e-4, atol=1e-6
    )
    pos = frac * (len(losses) - 1)  # λ sits between the ⌊pos⌋-th and ⌈pos⌉-th smallest
    easy = int(np.sum(np.asarray(L.spl_select(losses, p.lam))))
    assert int(np.floor(pos)) <= easy <= int(np.floor(pos)) + 1
    hard = int(np.sum(np.asarray(L.spl_inv_select(losses, p.lam_inv))))
    assert int(np.floor(pos)) <= hard <= int(np.floor(pos)) + 1


points_st = st.lists(
    st.tuples(st.sampled_from([0.0, 1.0, -2.5]) | f32(-5, 5), st.floats(-5, 5)),
    min_size=24,
    max_size=24,
)


@SETTINGS
@given(
    points_st,
    st.lists(st.booleans(), min_size=24, max_size=24),
    st.sampled_from([1, 2, 3]),
    st.integers(0, 2**31 - 1),
)
def test_kmeans_invariants(points, mask, k, seed):
    pts = np.asarray(points, np.float32)
    mask = np.asarray(mask, bool)
    assume(mask.any())
    key = jax.random.key(seed)
    res = L.kmeans(key, pts, k, mask=mask)
    a = np.asarray(res.assignments)
    centroids = np.asarray(res.centroids)
    assert np.isfinite(centroids).all()
    assert np.all(a[~mask] == -1) and np.all((a[mask] >= 0) & (a[mask] < k))
    d2 = ((pts[:, None, :] - centroids[None]) ** 2).sum(-1)
    nearest = d2.min(1)
    tol = 1e-3 * (1 + nearest)
    assert np.all(d2[mask, a[mask]] <= nearest[mask] + tol[mask])  # the nearest centre
    np.testing.assert_allclose(float(res.inertia), nearest[mask].sum(), rtol=1e-3, atol=1e-3)
    again = L.kmeans(key, pts, k, mask=mask)  # deterministic for a key
    np.testing.assert_array_equal(np.asarray(again.assignments), a)


@SETTINGS
@given(points_st, st.lists(st.integers(0, 2), min_size=24, max_size=24), st.integers(0, 99))
def test_kmeans_per_class_keeps_clusters_inside_classes(points, labels, seed):
    pts, labels = np.asarray(points, np.float32), np.asarray(labels, np.int32)
    res = L.kmeans_per_class(jax.random.key(seed), pts, labels, 3, 2, max_class_size=24)
    ids = np.asarray(res.assignments)
    np.testing.assert_array_equal(ids // 2, labels)
    assert np.isfinite(np.asarray(res.centroids)).all()
