"""InfoBatch's prune-and-rescale against a numpy reference, and its unbiasedness."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lgl_spl.core import infobatch_prune


def _reference(uniform: np.ndarray, scores: np.ndarray, ratio: float):
    well = scores < scores.mean()
    keep = ~(well & (uniform < ratio))
    return keep, np.where(well, 1.0 / (1.0 - ratio), 1.0) * keep


class PruneTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_equals_the_numpy_reference(self):
        rng = np.random.default_rng(0)
        for n, ratio in ((1, 0.5), (7, 0.3), (1000, 0.5), (1000, 0.0), (333, 0.9)):
            scores = rng.exponential(size=n).astype(np.float32)
            key = jax.random.key(n)
            uniform = np.asarray(jax.random.uniform(key, (n,)))
            keep, weights = self.variant(infobatch_prune, static_argnums=2)(uniform, scores, ratio)
            ref_keep, ref_weights = _reference(uniform, scores, ratio)
            np.testing.assert_array_equal(keep, ref_keep)
            np.testing.assert_allclose(weights, ref_weights, rtol=1e-6)
            chex.assert_type(weights, jnp.float32)

    def test_compiles_once_for_any_scores_and_keys(self):
        fn = chex.assert_max_traces(infobatch_prune, n=1)
        jitted = jax.jit(fn, static_argnums=2)
        for seed in range(3):
            uniform = jax.random.uniform(jax.random.key(seed), (10,))
            jitted(uniform, jnp.arange(10, dtype=jnp.float32) * seed, 0.5)


def test_equal_scores_prune_nothing():
    keep, weights = infobatch_prune(np.zeros(50, np.float32), np.ones(50, np.float32), 0.5)
    assert bool(keep.all()) and np.all(np.asarray(weights) == 1.0)


@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.8])
def test_every_example_counts_once_in_expectation(ratio):
    """E[keep_i · w_i] = 1 for every example: (1 − r) · 1 / (1 − r) for the well-learned."""
    scores = np.linspace(0.0, 2.0, 40).astype(np.float32)
    keys = jax.random.split(jax.random.key(1), 20_000)
    draw = lambda k: infobatch_prune(jax.random.uniform(k, scores.shape), scores, ratio)  # noqa: E731
    _, weights = jax.vmap(draw)(keys)
    mean = np.asarray(weights).mean(0)
    np.testing.assert_allclose(mean, 1.0, atol=0.06)
    assert np.asarray(weights)[:, scores < scores.mean()].min() == 0.0  # some were left out


def test_the_expected_weighted_gradient_is_the_full_data_gradient():
    """A linear least-squares model: over many draws, the mean of Σ_i w_i ∇ℓ_i equals the full
    data's Σ_i ∇ℓ_i, while one draw does not."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5], np.float32) + rng.normal(size=60).astype(np.float32)
    theta = np.zeros(3, np.float32)
    residual = x @ theta - y
    per_example_grad = residual[:, None] * x  # ∇ of ½ (x·θ − y)²
    scores = 0.5 * residual**2
    full = per_example_grad.sum(0)
    keys = jax.random.split(jax.random.key(2), 20_000)
    draw = lambda k: infobatch_prune(jax.random.uniform(k, scores.shape), scores, 0.5)  # noqa: E731
    _, weights = jax.vmap(draw)(keys)
    estimates = np.asarray(weights) @ per_example_grad  # [draws, 3]
    np.testing.assert_allclose(estimates.mean(0), full, rtol=0.02)
    assert np.abs(estimates[0] - full).max() > 0.01 * np.abs(full).max()  # one draw is noisy
