"""Local-to-Global Learning: conditional entropy and the choice of classes to add."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

LGL_STRATEGIES = ("random", "dissimilar", "similar")


def _row_entropy(probs: jax.Array) -> jax.Array:
    return -jnp.sum(
        jnp.where(probs > 0, probs * jnp.log(jnp.where(probs > 0, probs, 1.0)), 0.0), -1
    )


def conditional_entropy(probs: ArrayLike) -> jax.Array:
    """H(T|X): the mean over rows of −Σ p log p (0 log 0 = 0). LGL Eq. 7–8.

    Example:
      >>> round(float(conditional_entropy(jnp.full((3, 4), 0.25))), 4)
      1.3863
    """
    return jnp.mean(_row_entropy(jnp.asarray(probs, jnp.float32)))


@functools.partial(jax.jit, static_argnames=("num_classes",))
def class_conditional_entropies(
    logits: ArrayLike, labels: ArrayLike, trained: ArrayLike, *, num_classes: int
) -> jax.Array:
    """H_w(T | X_{i}) for every class i, T = the softmax over the trained classes.

    Args:
      logits: [N, C] student logits; labels: [N]; trained: bool[C].

    Returns:
      [C] mean entropy per class (NaN for a class with no examples).
    """
    ones = jnp.ones(jnp.shape(labels), jnp.float32)
    total, count = class_entropy_sums(logits, labels, trained, ones, num_classes=num_classes)
    return jnp.where(count > 0, total / jnp.maximum(count, 1.0), jnp.nan)


@functools.partial(jax.jit, static_argnames=("num_classes",))
def class_entropy_sums(
    logits: ArrayLike,
    labels: ArrayLike,
    trained: ArrayLike,
    weights: ArrayLike,
    *,
    num_classes: int,
) -> tuple[jax.Array, jax.Array]:
    """Per-class sums of weighted example entropies, and of the weights ([C] each).

    The additive part of :func:`class_conditional_entropies`: summed over batches, it
    gives the entropies of a pass over the data without keeping its [N, C] logits.
    """
    masked = jnp.where(jnp.asarray(trained)[None, :], logits, -jnp.inf)
    h = _row_entropy(jax.nn.softmax(masked, axis=-1))
    w = jnp.asarray(weights, jnp.float32)
    total = jax.ops.segment_sum(h * w, labels, num_segments=num_classes)
    count = jax.ops.segment_sum(w, labels, num_segments=num_classes)
    return total, count


@functools.partial(jax.jit, static_argnames=("num", "strategy"))
def choose_classes(
    key: ArrayLike,
    entropies: ArrayLike,
    remaining: ArrayLike,
    *,
    num: int,
    strategy: str,
) -> jax.Array:
    """Pick up to ``num`` classes among ``remaining`` (bool[C]); returns bool[C].

    ``random``: uniformly; ``dissimilar``: the largest conditional entropy
    (LGL Eq. 9); ``similar``: the smallest. Ties go to the lower class index.

    Example:
      >>> choose_classes(jax.random.key(0), jnp.array([0.1, 0.9, 0.5]),
      ...                jnp.array([True, True, False]), num=1, strategy="dissimilar")
      Array([False,  True, False], dtype=bool)
    """
    if strategy not in LGL_STRATEGIES:
        raise ValueError(f"unknown LGL strategy {strategy!r}; choose one of {LGL_STRATEGIES}")
    remaining = jnp.asarray(remaining, bool)
    c = remaining.shape[0]
    if strategy == "random":
        score = jax.random.uniform(key, (c,))
    else:
        h = jnp.asarray(entropies, jnp.float32)
        # A class with no examples (NaN) comes last whichever the order.
        score = jnp.where(jnp.isnan(h), -jnp.inf, h if strategy == "dissimilar" else -h)
    # Remaining classes first (even one scored -inf, e.g. a class without examples), then
    # by descending score; stable, so the lower class index wins ties.
    order = jnp.lexsort((-score, ~remaining))
    rank = jnp.zeros(c, jnp.int32).at[order].set(jnp.arange(c, dtype=jnp.int32))
    return remaining & (rank < num)


def stage_sizes(num_classes: int, num_stages: int) -> list[int]:
    """m stages of ceil(C/m) classes each (the last one holds the remainder)."""
    per = -(-num_classes // num_stages)
    sizes = []
    left = num_classes
    while left > 0:
        sizes.append(min(per, left))
        left -= sizes[-1]
    return sizes
