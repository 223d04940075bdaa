"""k-means++ seeding and Lloyd iterations, batched over classes in one program."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


class KMeansResult(NamedTuple):
    """centroids [k, d]; assignments [N] int32 (-1 for masked-out points); inertia scalar."""

    centroids: jax.Array
    assignments: jax.Array
    inertia: jax.Array


def _sq_dists(points: jax.Array, centroids: jax.Array) -> jax.Array:
    """[N, k] squared distances via the matmul expansion (fast on every backend)."""
    p2 = jnp.sum(points * points, axis=1, keepdims=True)
    c2 = jnp.sum(centroids * centroids, axis=1)
    return jnp.maximum(p2 - 2.0 * points @ centroids.T + c2[None, :], 0.0)


def _sample_weighted(key: jax.Array, weights: jax.Array, mask: jax.Array, shape=()) -> jax.Array:
    """Indices drawn ∝ weights over masked points; uniform over them when all weights are 0."""
    total = jnp.sum(weights)
    probs = jnp.where(total > 0, weights, mask.astype(weights.dtype))
    logits = jnp.where(probs > 0, jnp.log(jnp.where(probs > 0, probs, 1.0)), -jnp.inf)
    # Everything masked (an empty class): pick index 0; the caller masks the result.
    logits = jnp.where(jnp.any(probs > 0), logits, 0.0)
    return jax.random.categorical(key, logits, shape=shape)


def _kmeans_pp(key: jax.Array, points: jax.Array, mask: jax.Array, k: int) -> jax.Array:
    """Greedy k-means++ (D² sampling, 2 + ln k candidates per centre, as scikit-learn)."""
    n_trials = 2 + int(math.log(k))
    key, first_key = jax.random.split(key)
    first = _sample_weighted(first_key, mask.astype(points.dtype), mask)
    centroids = jnp.zeros((k, points.shape[1]), points.dtype).at[0].set(points[first])
    closest = jnp.where(mask, _sq_dists(points, points[first][None])[:, 0], 0.0)

    def add_centre(j, carry):
        centroids, closest, key = carry
        key, sub = jax.random.split(key)
        cand = _sample_weighted(sub, closest, mask, shape=(n_trials,))
        cand_d = jnp.minimum(closest[:, None], _sq_dists(points, points[cand]))  # [N, T]
        cand_d = jnp.where(mask[:, None], cand_d, 0.0)
        best = jnp.argmin(jnp.sum(cand_d, axis=0))
        return centroids.at[j].set(points[cand[best]]), cand_d[:, best], key

    centroids, _, _ = jax.lax.fori_loop(1, k, add_centre, (centroids, closest, key))
    return centroids


def _lloyd_step(points: jax.Array, mask: jax.Array, centroids: jax.Array) -> jax.Array:
    k = centroids.shape[0]
    d2 = _sq_dists(points, centroids)
    assign = jnp.argmin(d2, axis=1)
    onehot = jax.nn.one_hot(assign, k, dtype=points.dtype) * mask[:, None]
    counts = jnp.sum(onehot, axis=0)
    means = (onehot.T @ points) / jnp.maximum(counts, 1.0)[:, None]
    # Empty clusters restart at the points farthest from their centres, one each.
    empty = counts == 0
    far_d = jnp.where(mask, jnp.min(d2, axis=1), -1.0)
    top = min(k, points.shape[0])
    _, far = jax.lax.top_k(far_d, top)
    slot = jnp.clip(jnp.cumsum(empty) - 1, 0, top - 1)
    return jnp.where(empty[:, None], points[far[slot]], means)


def _kmeans(key, points, mask, k: int, num_iters: int) -> KMeansResult:
    points = points.astype(jnp.float32)
    centroids = _kmeans_pp(key, points, mask, k)
    centroids = jax.lax.fori_loop(
        0, num_iters, lambda _, c: _lloyd_step(points, mask, c), centroids
    )
    d2 = _sq_dists(points, centroids)
    assignments = jnp.where(mask, jnp.argmin(d2, axis=1), -1).astype(jnp.int32)
    inertia = jnp.sum(jnp.where(mask, jnp.min(d2, axis=1), 0.0))
    return KMeansResult(centroids, assignments, inertia)


@functools.partial(jax.jit, static_argnames=("k", "num_iters"))
def kmeans(
    key: ArrayLike,
    points: ArrayLike,
    k: int,
    *,
    mask: ArrayLike | None = None,
    num_iters: int = 20,
) -> KMeansResult:
    """k-means with k-means++ seeding and a fixed number of Lloyd iterations.

    Deterministic for a key. Points outside ``mask`` are ignored and get
    assignment -1. Empty clusters are re-seeded at the farthest points.

    Example:
      >>> res = kmeans(jax.random.key(0), jnp.ones((100, 2)), 3)
      >>> res.centroids.shape, res.assignments.shape
      ((3, 2), (100,))
    """
    points = jnp.asarray(points)
    mask = jnp.ones(points.shape[0], bool) if mask is None else jnp.asarray(mask, bool)
    return _kmeans(key, points, mask, k, num_iters)


@functools.partial(jax.jit, static_argnames=("num_classes", "k", "num_iters", "max_class_size"))
def _kmeans_per_class(key, points, labels, num_classes, k, num_iters, max_class_size):
    n = points.shape[0]
    order = jnp.argsort(labels, stable=True)
    counts = jnp.bincount(labels, length=num_classes)
    starts = jnp.cumsum(counts) - counts
    slot = jnp.arange(max_class_size)
    valid = slot[None, :] < counts[:, None]  # [C, S]
    members = order[jnp.clip(starts[:, None] + slot[None, :], 0, n - 1)]  # [C, S]
    keys = jax.random.split(key, num_classes)
    per_class = jax.vmap(lambda kk, idx, m: _kmeans(kk, points[idx], m, k, num_iters))(
        keys, members, valid
    )
    ids = per_class.assignments + (jnp.arange(num_classes) * k)[:, None]
    scatter_to = jnp.where(valid, members, n)  # index n is dropped
    assignments = jnp.full(n, -1, jnp.int32).at[scatter_to.ravel()].set(ids.ravel(), mode="drop")
    centroids = per_class.centroids.reshape(num_classes * k, -1)
    return KMeansResult(centroids, assignments, jnp.sum(per_class.inertia))


def kmeans_per_class(
    key: ArrayLike,
    points: ArrayLike,
    labels: ArrayLike,
    num_classes: int,
    k: int,
    *,
    num_iters: int = 20,
    max_class_size: int | None = None,
) -> KMeansResult:
    """k-means++ with ``k`` clusters inside every class, all classes in one program.

    Classes are gathered into a padded [C, S, d] block (S = the largest class)
    and clustered with ``vmap`` and masks. Cluster id = class * k + j; centroids
    are [C * k, d]. A class with fewer than k points gets duplicate centres
    rather than NaNs. ``max_class_size`` must be given when ``labels`` is traced.

    Example:
      >>> pts = jax.random.normal(jax.random.key(1), (60, 4))
      >>> res = kmeans_per_class(jax.random.key(0), pts, jnp.arange(60) % 3, 3, 2)
      >>> int(res.assignments.max()) < 6
      True
    """
    if max_class_size is None:
        try:
            host_labels = np.asarray(labels)
        except jax.errors.TracerArrayConversionError as e:
            raise ValueError("kmeans_per_class: pass max_class_size when labels are traced") from e
        max_class_size = max(int(np.bincount(host_labels, minlength=num_classes).max()), 1)
    labels = jnp.asarray(labels, jnp.int32)
    return _kmeans_per_class(
        key, jnp.asarray(points), labels, num_classes, k, num_iters, max_class_size
    )
