"""Magnet loss against a direct numpy transcription of SPL-ADVisE Eq. 1."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import parameterized
from jax.test_util import check_grads
from scipy.special import logsumexp

import lgl_spl as L


def magnet_reference(r, classes, alpha):
    r = np.asarray(r, np.float64)
    m, d, _ = r.shape
    mu = r.mean(axis=1)
    own = ((r - mu[:, None]) ** 2).sum(-1)
    var = max(own.sum() / max(m * d - 1, 1), 1e-12)  # the same guard as the loss
    out = np.zeros((m, d))
    for i in range(m):
        others = [j for j in range(m) if classes[j] != classes[i]]
        if not others:
            continue
        for b in range(d):
            log_num = -own[i, b] / (2 * var) - alpha
            log_den = logsumexp([-((r[i, b] - mu[j]) ** 2).sum() / (2 * var) for j in others])
            out[i, b] = max(0.0, log_den - log_num)
    return out.mean(), out


class MagnetTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters((8, 8, 64, 0), (12, 4, 16, 1), (3, 2, 2, 2), (2, 1, 5, 3))
    def test_matches_reference(self, m, d, dim, seed):
        rng = np.random.default_rng(seed)
        r = rng.normal(size=(m, d, dim)).astype(np.float32) + rng.normal(size=(m, 1, dim))
        classes = rng.integers(0, 3, m)
        loss, per = self.variant(lambda x, c: L.magnet_loss(x, c, alpha=1.0))(r, classes)
        chex.assert_shape(per, (m, d))
        chex.assert_type([loss, per], jnp.float32)
        ref_loss, ref_per = magnet_reference(r, classes, 1.0)
        np.testing.assert_allclose(per, ref_per, rtol=2e-4, atol=2e-4)
        np.testing.assert_allclose(loss, ref_loss, rtol=2e-4, atol=2e-4)

    def test_gradients(self):
        rng = np.random.default_rng(0)
        r = jnp.asarray(rng.normal(size=(4, 3, 5)), jnp.float32)
        classes = jnp.array([0, 1, 2, 0])
        # Large α keeps every hinge active so the loss is smooth around r.
        f = lambda x: L.magnet_loss(x, classes, alpha=5.0)[0]
        check_grads(f, (r,), order=1, modes=["rev"], atol=5e-2, rtol=5e-2, eps=1e-2)

    @parameterized.named_parameters(
        ("identical", np.ones((4, 3, 8))),
        ("zeros", np.zeros((4, 3, 8))),
        ("huge", np.random.default_rng(1).normal(size=(4, 3, 8)) * 1e18),
        ("tiny", np.random.default_rng(2).normal(size=(4, 3, 8)) * 1e-18),
        ("single_example", np.random.default_rng(3).normal(size=(4, 1, 8))),
        ("one_cluster", np.random.default_rng(4).normal(size=(1, 5, 8))),
    )
    def test_finite_in_degenerate_cases(self, r):
        r = jnp.asarray(r, jnp.float32)
        classes = jnp.arange(r.shape[0]) % 2
        loss, per = L.magnet_loss(r, classes)
        grad = jax.grad(lambda x: L.magnet_loss(x, classes)[0])(r)
        chex.assert_tree_all_finite((loss, per, grad))

    def test_scale_invariant(self):
        r = np.random.default_rng(5).normal(size=(6, 4, 8)).astype(np.float32)
        classes = np.arange(6) % 3
        base = L.magnet_loss(r, classes)[0]
        for s in (1e-10, 1e10):
            np.testing.assert_allclose(L.magnet_loss(r * s, classes)[0], base, rtol=1e-4)

    def test_no_other_class_contributes_zero(self):
        r = np.random.default_rng(6).normal(size=(3, 4, 8)).astype(np.float32)
        loss, per = L.magnet_loss(r, np.zeros(3, int))
        np.testing.assert_array_equal(per, 0.0)
        assert float(loss) == 0.0

    def test_separated_clusters_have_small_loss(self):
        r = np.zeros((4, 4, 2), np.float32)
        r[:, :, 0] = np.arange(4)[:, None] * 100.0
        r += np.random.default_rng(7).normal(size=r.shape) * 0.1
        loss, _ = L.magnet_loss(r, np.arange(4), alpha=1.0)
        assert float(loss) == 0.0
        mixed, _ = L.magnet_loss(np.random.default_rng(8).normal(size=(4, 4, 2)), np.arange(4))
        assert float(mixed) > 0.5

    def test_compiles_once(self):
        f = jax.jit(chex.assert_max_traces(lambda x, c: L.magnet_loss(x, c), n=1))
        for seed in range(3):
            r = np.random.default_rng(seed).normal(size=(8, 8, 16)).astype(np.float32)
            f(r, np.arange(8) % 4)
