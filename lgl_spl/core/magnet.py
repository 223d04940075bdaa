"""Magnet loss (Rippel et al. 2016; SPL-ADVisE Eq. 1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

_VAR_FLOOR = 1e-12
# A finite stand-in for -inf: exp() underflows to 0 and gradients stay finite.
_MASKED = -1e30


def magnet_loss(
    embeddings: ArrayLike, cluster_classes: ArrayLike, *, alpha: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """Magnet loss of a neighbourhood batch of M clusters with D examples each.

    Uses σ² (not the reference code's σ⁴) and a log-sum-exp over the centroids
    of *other-class* clusters. An example whose cluster has no other-class
    cluster in the batch contributes 0. The loss is invariant to translating and
    scaling the embeddings, which is used to keep it finite at any scale.

    Args:
      embeddings: [M, D, d] embeddings, grouped by cluster.
      cluster_classes: [M] int class of each cluster.
      alpha: the separation margin α.

    Returns:
      (loss, per_example): the mean hinge loss and the [M, D] per-example losses.

    Example:
      >>> r = jnp.zeros((2, 4, 8)).at[1].add(3.0)
      >>> loss, per_ex = magnet_loss(r, jnp.array([0, 1]), alpha=1.0)
    """
    r = jnp.asarray(embeddings, jnp.float32)
    classes = jnp.asarray(cluster_classes)
    m, d_per, _ = r.shape

    # Centre and rescale by constants (stop_gradient): the loss is exactly
    # invariant to both, so values and gradients are unchanged, but 1e±20
    # inputs no longer overflow or underflow when squared.
    r = r - jax.lax.stop_gradient(jnp.mean(r, axis=(0, 1)))
    scale = jax.lax.stop_gradient(jnp.max(jnp.abs(r)))
    r = r / jnp.where(scale > 0, scale, 1.0)

    mu = jnp.mean(r, axis=1)  # [M, d]
    own_sq = jnp.sum((r - mu[:, None, :]) ** 2, axis=-1)  # [M, D]
    variance = jnp.sum(own_sq) / max(m * d_per - 1, 1)
    inv_two_var = 0.5 / jnp.maximum(variance, _VAR_FLOOR)

    # ‖r_b^m − μ_m'‖² for every example and every centroid: [M, D, M].
    all_sq = jnp.sum((r[:, :, None, :] - mu[None, None, :, :]) ** 2, axis=-1)
    other = classes[:, None] != classes[None, :]  # [M, M']
    logits = jnp.where(other[:, None, :], -all_sq * inv_two_var, _MASKED)
    log_denominator = jax.nn.logsumexp(logits, axis=-1)  # [M, D]

    per_example = jax.nn.relu(own_sq * inv_two_var + alpha + log_denominator)
    has_impostor = jnp.any(other, axis=1)[:, None]
    per_example = jnp.where(has_impostor, per_example, 0.0)
    return jnp.mean(per_example), per_example
