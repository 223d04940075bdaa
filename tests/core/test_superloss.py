"""SuperLoss: Lambert W against scipy, σ* and the loss against a numpy reference, its gradient."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import lambertw as scipy_lambertw

from lgl_spl.core import lambertw, superloss, superloss_confidence

GRID = np.concatenate(
    [
        [-1 / np.e, -0.3678, -0.36, -0.3, -0.1, -1e-4, 0.0, 1e-4, 0.1, 0.24, 0.26, 1.0],
        [2.9, 3.1, 10.0, 100.0, 1e4, 1e6],
        np.linspace(-0.36, 40.0, 997),
    ]
).astype(np.float32)


def _reference_sigma(losses, tau, lam):
    beta = (np.asarray(losses, np.float64) - tau) / lam
    # ½·max(−2/e, β), inside W₀'s domain in float64 (scipy gives NaN at −1/e itself).
    return np.exp(-scipy_lambertw(np.maximum(-1.0 / np.e + 1e-15, 0.5 * beta)).real)


class LambertWTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_equals_scipy_on_the_principal_branch(self):
        w = np.asarray(self.variant(lambertw)(GRID))
        ref = scipy_lambertw(np.maximum(GRID.astype(np.float64), -1.0 / np.e + 1e-15)).real
        # W₀ is a square root at its branch point (−1/e, −1): there the float32 rounding of
        # x shows as ~1e-4 in W; elsewhere it agrees to float32 precision.
        np.testing.assert_allclose(w[:2], ref[:2], atol=2e-4)
        np.testing.assert_allclose(w[2:], ref[2:], rtol=2e-5, atol=2e-5)

    def test_below_the_branch_point_is_nan(self):
        assert np.isnan(np.asarray(lambertw(jnp.float32(-0.5))))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0.0, 30.0, width=32), min_size=1, max_size=64),
    st.floats(0.05, 5.0),
    st.sampled_from([0.25, 1.0, 4.0]),
)
def test_confidence_and_loss_equal_the_numpy_reference(losses, tau, lam):
    losses = np.asarray(losses, np.float32)
    sigma = np.asarray(superloss_confidence(losses, tau, lam))
    ref_sigma = _reference_sigma(losses, tau, lam)
    np.testing.assert_allclose(sigma, ref_sigma, rtol=2e-4, atol=1e-5)
    ref = (losses - tau) * ref_sigma + lam * np.log(ref_sigma) ** 2
    np.testing.assert_allclose(np.asarray(superloss(losses, tau, lam)), ref, rtol=2e-4, atol=2e-4)
    assert np.all(sigma <= np.e * (1 + 1e-4)) and np.all(sigma > 0)


def test_easy_examples_weigh_more_and_hard_ones_less():
    sigma = np.asarray(superloss_confidence(jnp.array([0.0, 1.0, 2.0, 10.0]), 1.0, 1.0))
    assert sigma[1] == pytest.approx(1.0)  # ℓ = τ: weight 1
    assert sigma[0] > sigma[1] > sigma[2] > sigma[3] > 0
    assert sigma[0] <= np.e


def test_its_gradient_is_the_confidence():
    """σ* is held constant: d SuperLoss / dℓ = σ*, and τ gets no gradient."""
    losses = jnp.array([0.1, 0.9, 2.5, 7.0])
    grad = jax.grad(lambda x: jnp.sum(superloss(x, 1.2, 0.5)))(losses)
    np.testing.assert_allclose(grad, _reference_sigma(losses, 1.2, 0.5), rtol=1e-5)
    assert float(jax.grad(lambda t: jnp.sum(superloss(losses, t, 0.5)))(1.2)) == 0.0
