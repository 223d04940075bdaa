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


# Everything below works on a batch of independent problems: points [B, S, d]
# with masks [B, S]. A single k-means is B = 1; per-class k-means is B = C.


def _sq_dists(points: jax.Array, centroids: jax.Array, p2: jax.Array | None = None) -> jax.Array:
    """[B, S, k] squared distances via the matmul expansion; ``p2`` = ‖points‖² [B, S, 1]."""
    if p2 is None:
        p2 = jnp.sum(points * points, axis=-1, keepdims=True)
    c2 = jnp.sum(centroids * centroids, axis=-1)[:, None, :]
    cross = jnp.einsum("bsd,bkd->bsk", points, centroids)
    return jnp.maximum(p2 - 2.0 * cross + c2, 0.0)


def _sample_weighted(key: jax.Array, weights: jax.Array, mask: jax.Array, n: int) -> jax.Array:
    """[B, n] indices drawn ∝ weights [B, S] (inverse CDF; uniform over the mask if all 0)."""
    use = jnp.where(jnp.sum(weights, -1, keepdims=True) > 0, weights, mask.astype(weights.dtype))
    cdf = jnp.cumsum(use, axis=-1)
    u = jax.random.uniform(key, (weights.shape[0], n)) * cdf[:, -1:]
    idx = jax.vmap(lambda c, v: jnp.searchsorted(c, v, side="right"))(cdf, u)
    return jnp.clip(idx, 0, weights.shape[1] - 1)


def _take(points: jax.Array, idx: jax.Array) -> jax.Array:
    """points [B, S, d], idx [B, n] → [B, n, d]."""
    return jnp.take_along_axis(points, idx[..., None], axis=1)


def _kmeans_pp(key: jax.Array, points: jax.Array, mask: jax.Array, k: int) -> jax.Array:
    """Greedy k-means++ (D² sampling, 2 + ln k candidates per centre, as scikit-learn)."""
    n_trials = 2 + int(math.log(k))
    p2 = jnp.sum(points * points, axis=-1, keepdims=True)  # once, not once per centre
    key, first_key = jax.random.split(key)
    first = _take(points, _sample_weighted(first_key, mask.astype(points.dtype), mask, 1))
    centroids = jnp.zeros((points.shape[0], k, points.shape[2]), points.dtype)
    centroids = centroids.at[:, 0].set(first[:, 0])
    closest = jnp.where(mask, _sq_dists(points, first, p2)[..., 0], 0.0)

    def add_centre(j, carry):
        centroids, closest, key = carry
        key, sub = jax.random.split(key)
        cand = _take(points, _sample_weighted(sub, closest, mask, n_trials))  # [B, T, d]
        cand_d = jnp.minimum(closest[..., None], _sq_dists(points, cand, p2))  # [B, S, T]
        cand_d = jnp.where(mask[..., None], cand_d, 0.0)
        best = jnp.argmin(jnp.sum(cand_d, axis=1), axis=-1)  # [B]
        rows = jnp.arange(points.shape[0])
        centroids = centroids.at[:, j].set(cand[rows, best])
        return centroids, cand_d[rows, :, best], key

    centroids, _, _ = jax.lax.fori_loop(1, k, add_centre, (centroids, closest, key))
    return centroids


def _reseed_empty(points, mask, score, means, empty):
    """Empty clusters restart at the points farthest from their centres, one each."""
    k = means.shape[1]
    top = min(k, points.shape[1])
    p2 = jnp.sum(points * points, axis=-1)
    far_d = jnp.where(mask, p2 + jnp.min(score, axis=-1), -jnp.inf)
    _, far = jax.lax.top_k(far_d, top)  # [B, top]
    slot = jnp.clip(jnp.cumsum(empty, axis=-1) - 1, 0, top - 1)  # [B, k]
    far_points = _take(points, jnp.take_along_axis(far, slot, axis=1))
    return jnp.where(empty[..., None], far_points, means)


def _lloyd_step(points: jax.Array, mask: jax.Array, centroids: jax.Array) -> jax.Array:
    k = centroids.shape[1]
    # ‖x‖² is the same for every centre, so the argmin needs only ‖c‖² − 2x·c:
    # one pass over the points fewer, which is most of the cost here.
    score = jnp.sum(centroids * centroids, axis=-1)[:, None, :] - 2.0 * jnp.einsum(
        "bsd,bkd->bsk", points, centroids
    )
    onehot = jax.nn.one_hot(jnp.argmin(score, axis=-1), k, dtype=points.dtype) * mask[..., None]
    counts = jnp.sum(onehot, axis=1)  # [B, k]
    means = jnp.einsum("bsk,bsd->bkd", onehot, points) / jnp.maximum(counts, 1.0)[..., None]
    empty = counts == 0
    # Rare, so the top-k search runs only when some cluster is empty.
    return jax.lax.cond(
        jnp.any(empty),
        lambda: _reseed_empty(points, mask, score, means, empty),
        lambda: means,
    )


def _kmeans_batched(key, points, mask, k: int, num_iters: int) -> KMeansResult:
    """Batched k-means: centroids [B, k, d], assignments [B, S], inertia [B]."""
    points = points.astype(jnp.float32)
    centroids = _kmeans_pp(key, points, mask, k)
    centroids = jax.lax.fori_loop(
        0, num_iters, lambda _, c: _lloyd_step(points, mask, c), centroids
    )
    d2 = _sq_dists(points, centroids)
    assignments = jnp.where(mask, jnp.argmin(d2, axis=-1), -1).astype(jnp.int32)
    inertia = jnp.sum(jnp.where(mask, jnp.min(d2, axis=-1), 0.0), axis=-1)
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
    res = _kmeans_batched(key, points[None], mask[None], k, num_iters)
    return KMeansResult(res.centroids[0], res.assignments[0], res.inertia[0])


def _class_slots(labels, num_classes: int, max_class_size: int, xp):
    """members [C, S] (example indices, class-major) and valid [C, S] for ``xp`` = np or jnp."""
    n = labels.shape[0]
    order = xp.argsort(labels, stable=True)
    counts = (
        xp.bincount(labels, length=num_classes)
        if xp is jnp
        else np.bincount(labels, minlength=num_classes)
    )
    starts = xp.cumsum(counts) - counts
    slot = xp.arange(max_class_size)
    valid = slot[None, :] < counts[:, None]
    members = order[xp.clip(starts[:, None] + slot[None, :], 0, n - 1)]
    return members.astype(xp.int32), valid


@functools.partial(jax.jit, static_argnames=("num_classes", "k", "num_iters", "max_class_size"))
def _kmeans_per_class(
    key, points, labels, members, valid, num_classes, k, num_iters, max_class_size
):
    n = points.shape[0]
    if members is None:
        members, valid = _class_slots(labels, num_classes, max_class_size, jnp)
    # members are clipped into range: the promise halves the gather's cost.
    grouped = points.at[members].get(mode="promise_in_bounds")
    per_class = _kmeans_batched(key, grouped, valid, k, num_iters)
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
    members = valid = None
    if isinstance(labels, jax.core.Tracer):
        if max_class_size is None:
            raise ValueError("kmeans_per_class: pass max_class_size when labels are traced")
    else:
        # Concrete labels: group them on the host, where a stable sort is ~20× cheaper.
        host = np.asarray(labels).astype(np.int32)
        size = max(int(np.bincount(host, minlength=num_classes).max(initial=0)), 1)
        max_class_size = max_class_size or size
        members, valid = _class_slots(host, num_classes, max_class_size, np)
    return _kmeans_per_class(
        key,
        jnp.asarray(points),
        jnp.asarray(labels, jnp.int32),
        members,
        valid,
        num_classes,
        k,
        num_iters,
        max_class_size,
    )
