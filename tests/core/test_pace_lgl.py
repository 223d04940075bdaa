"""The pace rule and LGL's entropy-based class choice."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lgl_spl as L


@pytest.mark.parametrize("round_index", [0, 1, 3, 7, 8, 20])
def test_pace_follows_the_rule(round_index):
    losses = np.random.default_rng(round_index).random(1000).astype(np.float32)
    p = L.pace(losses, round_index, q0=0.5, beta1=0.1, beta2=0.1, g0=0.5)
    q = min(1.0, 0.5 * 1.1**round_index)
    np.testing.assert_allclose(p.fraction, q, rtol=1e-6)
    if q < 1:
        np.testing.assert_allclose(p.lam, np.quantile(losses, q), rtol=1e-5)
        np.testing.assert_allclose(p.gamma, 0.5 * 1.1**round_index * p.lam, rtol=1e-5)
        np.testing.assert_allclose(p.lam_inv, np.quantile(losses, 1 - q), rtol=1e-5)
        sel = np.mean(np.asarray(L.spl_select(losses, p.lam)))
        inv = np.mean(np.asarray(L.spl_inv_select(losses, p.lam_inv)))
        assert abs(sel - q) < 2e-3 and abs(inv - q) < 2e-3
    else:
        assert np.all(np.asarray(L.spl_select(losses, p.lam)))
        assert np.all(np.asarray(L.spl_inv_select(losses, p.lam_inv)))
        assert np.all(np.asarray(L.spld_select(losses, np.zeros(1000, int), p.lam, p.gamma)))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    q0=st.floats(0.05, 1.0),
    beta=st.floats(0.0, 1.0),
    rounds=st.integers(1, 30),
)
def test_pace_fraction_grows_to_one(q0, beta, rounds):
    qs = np.asarray([float(L.pace_fraction(e, q0=q0, beta1=beta)) for e in range(rounds)])
    assert np.all(np.diff(qs) >= 0) and np.all(qs <= 1.0) and qs[0] == pytest.approx(q0, 1e-6)


def test_spld_selection_grows_with_the_pace():
    rng = np.random.default_rng(0)
    losses = rng.random(5000).astype(np.float32)
    groups = rng.integers(0, 40, 5000)
    counts = []
    for e in range(10):
        p = L.pace(losses, e)
        counts.append(int(np.sum(np.asarray(L.spld_select(losses, groups, p.lam, p.gamma)))))
    assert counts == sorted(counts) and counts[-1] == 5000


def test_conditional_entropy():
    probs = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(L.conditional_entropy(probs), np.log(3) / 2, rtol=1e-6)
    chex.assert_shape(L.conditional_entropy(probs), ())


def test_class_entropies_use_only_trained_classes():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(300, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 300)
    trained = np.array([True, True, False, True, False])
    got = np.asarray(L.class_conditional_entropies(logits, labels, trained, num_classes=5))
    z = np.where(trained, logits, -np.inf)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    h = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), 1)
    ref = np.array([h[labels == c].mean() for c in range(5)])
    np.testing.assert_allclose(got, ref, rtol=1e-5)


@pytest.mark.parametrize("strategy", ["dissimilar", "similar", "random"])
def test_choose_classes(strategy):
    h = np.array([0.5, 2.0, 0.1, 1.5, 0.9, 3.0], np.float32)
    remaining = np.array([True, True, True, True, True, False])
    chosen = np.asarray(L.choose_classes(jax.random.key(0), h, remaining, num=2, strategy=strategy))
    assert chosen.sum() == 2 and not chosen[5]
    if strategy == "dissimilar":
        np.testing.assert_array_equal(np.flatnonzero(chosen), [1, 3])
    elif strategy == "similar":
        np.testing.assert_array_equal(np.flatnonzero(chosen), [0, 2])


def test_random_choice_is_deterministic_and_varies_with_key():
    remaining = jnp.ones(10, bool)
    h = jnp.zeros(10)
    picks = [
        tuple(
            np.flatnonzero(
                L.choose_classes(jax.random.key(s), h, remaining, num=3, strategy="random")
            )
        )
        for s in range(8)
    ]
    again = tuple(
        np.flatnonzero(L.choose_classes(jax.random.key(0), h, remaining, num=3, strategy="random"))
    )
    assert picks[0] == again and len(set(picks)) > 1


def test_choose_more_than_remaining_takes_all_remaining():
    remaining = np.array([False, True, False, True])
    chosen = L.choose_classes(jax.random.key(0), np.zeros(4), remaining, num=3, strategy="similar")
    np.testing.assert_array_equal(np.asarray(chosen), remaining)


def test_unknown_strategy():
    with pytest.raises(ValueError, match="unknown LGL strategy"):
        L.choose_classes(jax.random.key(0), np.zeros(3), np.ones(3, bool), num=1, strategy="nope")


@pytest.mark.parametrize(
    ("c", "m", "sizes"), [(10, 3, [4, 4, 2]), (100, 4, [25] * 4), (3, 3, [1, 1, 1])]
)
def test_stage_sizes(c, m, sizes):
    assert L.stage_sizes(c, m) == sizes
