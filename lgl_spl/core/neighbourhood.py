"""Neighbourhood sampling for the magnet-loss embedding net (SPL-ADVisE Algorithm 1)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


class ClusterIndex(NamedTuple):
    """Members of every cluster, contiguous: ``members[offsets[c]:offsets[c]+counts[c]]``."""

    members: jax.Array  # [N] example indices sorted by cluster
    offsets: jax.Array  # [K]
    counts: jax.Array  # [K]


@functools.partial(jax.jit, static_argnames=("num_clusters",))
def build_cluster_index(cluster_ids: ArrayLike, *, num_clusters: int) -> ClusterIndex:
    """Group example indices by cluster once per refresh (one sort), for O(D) sampling."""
    ids = jnp.asarray(cluster_ids, jnp.int32)
    members = jnp.argsort(ids, stable=True).astype(jnp.int32)
    counts = jnp.bincount(ids, length=num_clusters).astype(jnp.int32)
    return ClusterIndex(members, jnp.cumsum(counts) - counts, counts)


def cluster_mean_losses(
    example_losses: ArrayLike, cluster_ids: ArrayLike, *, num_clusters: int
) -> jax.Array:
    """Mean stored loss per cluster; NaN losses mean "never scored".

    A cluster with no scored example gets the mean over the scored clusters
    (1.0 when nothing is scored yet), so it is never 0 and never NaN.
    """
    losses = jnp.asarray(example_losses, jnp.float32)
    ids = jnp.asarray(cluster_ids, jnp.int32)
    scored = ~jnp.isnan(losses)
    total = jax.ops.segment_sum(jnp.where(scored, losses, 0.0), ids, num_segments=num_clusters)
    count = jax.ops.segment_sum(scored.astype(jnp.float32), ids, num_segments=num_clusters)
    has = count > 0
    means = total / jnp.maximum(count, 1.0)
    fallback = jnp.where(
        jnp.any(has), jnp.sum(jnp.where(has, means, 0.0)) / jnp.maximum(jnp.sum(has), 1), 1.0
    )
    return jnp.where(has, means, fallback)


def _sample_without_replacement(key: jax.Array, count: jax.Array, d: int) -> jax.Array:
    """d positions in [0, count) — distinct when count ≥ d, else uniform with repeats."""
    keys = jax.random.split(key, d + 1)
    with_repeats = jax.random.randint(keys[0], (d,), 0, jnp.maximum(count, 1))

    def draw(j, chosen):
        # Uniform over the count − j unused positions: draw a rank, then step past
        # every already-chosen position at or below it (in ascending order).
        pos = jax.random.randint(keys[j + 1], (), 0, jnp.maximum(count - j, 1))
        taken = jnp.sort(jnp.where(jnp.arange(d) < j, chosen, jnp.iinfo(jnp.int32).max))
        pos = jax.lax.fori_loop(0, d, lambda i, p: p + (taken[i] <= p), pos)
        return chosen.at[j].set(pos)

    distinct = jax.lax.fori_loop(0, d, draw, jnp.zeros(d, jnp.int32))
    return jnp.where(count >= d, distinct, with_repeats)


@functools.partial(jax.jit, static_argnames=("num_clusters_per_batch", "examples_per_cluster"))
def sample_neighbourhood(
    key: ArrayLike,
    cluster_ids: ArrayLike,
    centroids: ArrayLike,
    cluster_classes: ArrayLike,
    example_losses: ArrayLike,
    *,
    num_clusters_per_batch: int,
    examples_per_cluster: int,
    index: ClusterIndex | None = None,
) -> tuple[jax.Array, jax.Array]:
    """One magnet-loss batch: (indices [M, D], cluster ids [M]).

    The seed cluster is drawn ∝ its mean stored loss (see
    ``cluster_mean_losses``; empty clusters are never drawn); the M − 1 nearest
    clusters of *other* classes by centroid distance are its impostors; D
    examples are drawn uniformly from each, without replacement when the
    cluster has ≥ D members. When fewer than M − 1 non-empty other-class
    clusters exist, the seed cluster fills the remaining slots (the magnet
    loss gives such a same-class cluster no impostor term).

    Example:
      >>> ids = jnp.arange(40) % 4
      >>> b, c = sample_neighbourhood(jax.random.key(0), ids, jnp.eye(4), jnp.arange(4),
      ...     jnp.full(40, jnp.nan), num_clusters_per_batch=2, examples_per_cluster=3)
      >>> b.shape, c.shape
      ((2, 3), (2,))
    """
    m, d = num_clusters_per_batch, examples_per_cluster
    centroids = jnp.asarray(centroids, jnp.float32)
    classes = jnp.asarray(cluster_classes)
    k_total = centroids.shape[0]
    cluster_ids = jnp.asarray(cluster_ids, jnp.int32)
    if index is None:
        index = build_cluster_index(cluster_ids, num_clusters=k_total)
    nonempty = index.counts > 0
    p = jnp.where(
        nonempty, cluster_mean_losses(example_losses, cluster_ids, num_clusters=k_total), 0.0
    )
    seed_key, pick_key = jax.random.split(jnp.asarray(key))
    logits = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1.0)), -jnp.inf)
    # All-zero losses: sample the non-empty clusters uniformly.
    logits = jnp.where(jnp.any(p > 0), logits, jnp.where(nonempty, 0.0, -jnp.inf))
    seed = jax.random.categorical(seed_key, logits)

    dist = jnp.sum((centroids - centroids[seed]) ** 2, axis=-1)
    eligible = nonempty & (classes != classes[seed])
    neg_dist = jnp.where(eligible, -dist, -jnp.inf)
    _, nearest = jax.lax.top_k(neg_dist, max(m - 1, 1))
    nearest = jnp.where(jnp.isfinite(neg_dist[nearest]), nearest, seed)[: m - 1]
    chosen = jnp.concatenate([seed[None], nearest]).astype(jnp.int32)

    positions = jax.vmap(_sample_without_replacement, in_axes=(0, 0, None))(
        jax.random.split(pick_key, m), index.counts[chosen], d
    )
    indices = index.members[index.offsets[chosen][:, None] + positions]
    return indices, chosen
