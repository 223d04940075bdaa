"""k-nearest-neighbour classification accuracy: how well an embedding separates classes."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


@functools.partial(jax.jit, static_argnames=("k", "num_classes"))
def knn_accuracy(
    references: ArrayLike,
    reference_labels: ArrayLike,
    queries: ArrayLike,
    query_labels: ArrayLike,
    *,
    k: int = 10,
    num_classes: int,
) -> jax.Array:
    """Fraction of queries whose k nearest references (Euclidean) vote for their label.

    Each of the k neighbours casts one vote; a tie goes to the lowest class id.

    Args:
      references: [R, d] points with labels ``reference_labels`` [R].
      queries: [Q, d] points with labels ``query_labels`` [Q].
      k: neighbours per query (at most R).
      num_classes: static number of classes.

    Example:
      >>> refs = jnp.array([[0.0], [0.1], [5.0], [5.1]])
      >>> float(knn_accuracy(refs, jnp.array([0, 0, 1, 1]), jnp.array([[0.2], [4.9]]),
      ...                    jnp.array([0, 1]), k=1, num_classes=2))
      1.0
    """
    refs = jnp.asarray(references, jnp.float32)
    q = jnp.asarray(queries, jnp.float32)
    d2 = jnp.sum(q * q, axis=1)[:, None] - 2.0 * q @ refs.T + jnp.sum(refs * refs, axis=1)[None, :]
    _, nearest = jax.lax.top_k(-d2, k)
    votes = jax.nn.one_hot(jnp.asarray(reference_labels)[nearest], num_classes).sum(axis=1)
    predicted = jnp.argmax(votes, axis=1)
    return jnp.mean((predicted == jnp.asarray(query_labels)).astype(jnp.float32))
