"""Step-level selectors: which of a step's candidates update the model (docs/design.md §2).

A round's plan may hand the train step more candidate examples than it trains on. Inside
the same jitted step the candidates are scored in eval mode with the current parameters,
and a selector — a pure, jittable function of those scores — returns the positions of the
``k`` candidates that update the model. Under a data mesh the candidates are sharded, but
the selector sees them whole (jit's global view): its choice is global, the same on one
device as on many.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class Candidates(NamedTuple):
    """What a selector may look at: one step's candidates (``M`` of them), scored in eval mode."""

    indices: jax.Array  # [M] int32: training-set indices (host-fed data: positions in the batch)
    labels: jax.Array  # [M] int32
    weights: jax.Array  # [M] float32: the plan's weights; 0 marks padding
    losses: jax.Array  # [M] float32: cross-entropy under the current params (class mask applied)
    logits: jax.Array  # [M, C] float32 (classes outside the mask at a large negative value)
    # Per-example arrays the step was handed, read at the candidates' indices (e.g.
    # RHO-LOSS's ``irreducible_loss`` [M]); empty when the method hands none.
    per_example: Mapping[str, jax.Array] = {}
    features: jax.Array | None = None  # [M, F] float32: the model's features, when it gives them


# (candidates, k) -> [k] int32 positions into the candidates, or (positions, [k] float32
# weights) for a selector that also weights what it keeps; k is static.
Selector = Callable[[Candidates, int], jax.Array | tuple[jax.Array, jax.Array]]

# Logits of classes outside a class mask: finite, so no NaN in the softmax.
MASKED_LOGIT = -1e9


def score_candidates(
    logits: jax.Array,
    labels: jax.Array,
    indices: jax.Array,
    weights: jax.Array,
    *,
    class_mask: jax.Array | None = None,
    per_example: Mapping[str, jax.Array] | None = None,
    features: jax.Array | None = None,
) -> Candidates:
    """A step's :class:`Candidates` from the model's eval-mode ``logits`` [M, C]: their
    cross-entropy losses, classes outside ``class_mask`` pushed out of the softmax."""
    if class_mask is not None:
        logits = jnp.where(class_mask[None, :], logits, MASKED_LOGIT)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return Candidates(indices, labels, weights, losses, logits, dict(per_example or {}), features)


def select_candidates(select: Selector, candidates: Candidates, k: int):
    """``(positions [k] int32, weights [k] float32)``: the ``k`` candidates ``select`` keeps
    and their weights (the plan's, times the selector's own when it returns some). Pure and
    jittable with ``select`` and ``k`` static."""
    out = select(candidates, k)
    positions, scale = out if isinstance(out, tuple) else (out, None)
    positions = positions.astype(jnp.int32)
    weights = candidates.weights[positions]
    if scale is not None:
        weights = weights * scale.astype(weights.dtype)
    return positions, weights


def keep_first(candidates: Candidates, k: int) -> jax.Array:
    """The first ``k`` candidates, whatever their scores (the plan's own order)."""
    del candidates
    return jnp.arange(k, dtype=jnp.int32)


def lowest_scores(scores: jax.Array, weights: jax.Array, k: int) -> jax.Array:
    """Positions of the ``k`` lowest ``scores``, padding (weight 0) last; ties by position.

    The building block of loss-ranked selectors (negate the scores for the highest).
    """
    # Padding ranks after every real candidate; lax.top_k keeps the lower index on ties.
    keyed = jnp.where(weights > 0, -scores.astype(jnp.float32), -jnp.inf)
    return jax.lax.top_k(keyed, k)[1].astype(jnp.int32)


def highest_scores(scores: jax.Array, weights: jax.Array, k: int) -> jax.Array:
    """Positions of the ``k`` highest ``scores``, padding (weight 0) last; ties by position."""
    keyed = jnp.where(weights > 0, scores.astype(jnp.float32), -jnp.inf)
    return jax.lax.top_k(keyed, k)[1].astype(jnp.int32)


# The online batch selection methods' selectors (docs/design.md §4).


def highest_loss(candidates: Candidates, k: int) -> jax.Array:
    """Hard-example selection (Loshchilov & Hutter 2015): the ``k`` largest losses."""
    return highest_scores(candidates.losses, candidates.weights, k)


def lowest_loss(candidates: Candidates, k: int) -> jax.Array:
    """Small-loss selection (online capped SPL, Co-teaching's trick): the ``k`` smallest."""
    return lowest_scores(candidates.losses, candidates.weights, k)


IRREDUCIBLE = "irreducible_loss"  # the per-example input RHO-LOSS reads


def reducible_loss(candidates: Candidates, k: int) -> jax.Array:
    """RHO-LOSS (Mindermann et al. 2022): the ``k`` largest current − irreducible losses."""
    reducible = candidates.losses - candidates.per_example[IRREDUCIBLE]
    return highest_scores(reducible, candidates.weights, k)
