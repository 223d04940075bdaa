"""Static data pruning's scores and kept sets (docs/design.md §4, ``prune``).

- EL2N (Paul et al., NeurIPS 2021): ‖softmax(f(x)) − onehot(y)‖₂.
- GraNd (same paper): ‖∇_θ ℓ(x, y)‖₂, one gradient per example (``vmap``).
- Forgetting events (Toneva et al., ICLR 2019): an example predicted right at its previous
  presentation and wrong at this one; counted step by step from the training step's own
  predictions.
- Which examples to keep: the highest or lowest scores, or coverage-centric selection
  (Zheng et al., ICLR 2023): drop the hardest share, then sample evenly over score bins.

Pure and jittable; the host code that drives the scoring runs is ``train/pruning_scores.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def el2n(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """[B] the L2 norm of the error vector softmax(logits) − onehot(labels)."""
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    error = probs - jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
    return jnp.sqrt(jnp.sum(error * error, axis=-1))


def grad_norms(loss_of_one, params, inputs) -> jax.Array:
    """[B] ‖∇_params loss_of_one(params, *example)‖₂ for every example of ``inputs`` (a tuple
    of arrays with a leading batch axis), over all parameter leaves together."""
    grads = jax.vmap(jax.grad(loss_of_one), in_axes=(None, *([0] * len(inputs))))(params, *inputs)
    squares = [jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in jax.tree.leaves(grads)]
    return jnp.sqrt(sum(squares))


def forgetting_init(num_examples: int):
    """The state before any presentation: ``(last, events, learned)``, [N] each: the
    prediction at the last presentation (-1 never presented, 0 wrong, 1 right), the
    forgetting events so far, whether it was ever predicted right."""
    return (
        jnp.full((num_examples,), -1, jnp.int8),
        jnp.zeros((num_examples,), jnp.int32),
        jnp.zeros((num_examples,), jnp.bool_),
    )


def forgetting_update(state, indices: jax.Array, correct: jax.Array, weights: jax.Array):
    """The state after one step's presentations (``indices`` [B], train-mode ``correct`` [B]);
    weight-0 slots (padding) are ignored. An example appears at most once among a step's
    real slots (a pass is a permutation)."""
    last, events, learned = state
    n = last.shape[0]
    where = jnp.where(weights > 0, indices, n)  # padding goes out of range and is dropped
    now = correct.astype(jnp.int8)
    forgot = (last[jnp.minimum(where, n - 1)] == 1) & (now == 0) & (where < n)
    events = events.at[where].add(forgot.astype(jnp.int32), mode="drop")
    last = last.at[where].set(now, mode="drop")
    learned = learned.at[where].max(correct.astype(jnp.bool_), mode="drop")
    return last, events, learned


def forgetting_scores(state, presentations: int) -> jax.Array:
    """[N] forgetting events; an example never predicted right counts ``presentations``,
    more than any learned one can have (at most ⌊presentations / 2⌋), as the paper ranks
    never-learned examples as forgotten most."""
    _, events, learned = state
    return jnp.where(learned, events, presentations).astype(jnp.float32)


def keep_by_score(scores: jax.Array, num_keep: int, *, hardest: bool) -> jax.Array:
    """[N] bool: the ``num_keep`` highest (``hardest``) or lowest scores; ties go to the
    lower index."""
    order = jnp.argsort(-scores if hardest else scores, stable=True)
    keep = jnp.zeros(scores.shape, jnp.bool_)
    return keep.at[order[:num_keep]].set(True)


def coverage_centric(
    scores: jax.Array, uniform: jax.Array, num_keep: int, *, hard_prune: float, bins: int
) -> jax.Array:
    """[N] bool: coverage-centric selection (CCS, Zheng et al., ICLR 2023, Algorithm 1).

    The ``hard_prune`` share of highest scores is dropped; the rest is split into ``bins``
    equal-width score bins; the budget is shared out from the emptiest bin up, each bin
    taking min(its size, what is left / the bins left); within a bin the examples are a
    uniform draw (the lowest ``uniform`` values, [N] in [0, 1)).
    """
    n = scores.shape[0]
    dropped = int(round(hard_prune * n))
    hardest = keep_by_score(scores, dropped, hardest=True)
    pool = ~hardest
    low = jnp.min(jnp.where(pool, scores, jnp.inf))
    high = jnp.max(jnp.where(pool, scores, -jnp.inf))
    width = jnp.maximum(high - low, 1e-12) / bins
    bin_of = jnp.clip(jnp.floor((scores - low) / width).astype(jnp.int32), 0, bins - 1)
    bin_of = jnp.where(pool, bin_of, bins)  # the dropped in a bin of their own, never taken
    sizes = jnp.bincount(bin_of, length=bins + 1)[:bins]
    budget = jnp.minimum(num_keep, n - dropped)

    def share(left, size_and_rank):
        size, rank = size_and_rank
        take = jnp.minimum(size, left // (bins - rank))
        return left - take, take

    order = jnp.argsort(sizes, stable=True)  # the emptiest bins first
    _, taken = jax.lax.scan(share, budget, (sizes[order], jnp.arange(bins)))
    quota = jnp.zeros(bins + 1, jnp.int32).at[order].set(taken.astype(jnp.int32))
    # Each example's rank among its bin's by its uniform draw: keep the first `quota`.
    by_draw = jnp.lexsort((uniform, bin_of))
    start = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(sizes).astype(jnp.int32)])
    rank_sorted = jnp.arange(n) - start[bin_of[by_draw]]
    rank = jnp.zeros(n, jnp.int32).at[by_draw].set(rank_sorted.astype(jnp.int32))
    return pool & (rank < quota[bin_of])
