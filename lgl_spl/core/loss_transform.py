"""A per-example loss transform inside the train step, with a small state of its own.

A method may reshape the per-example training losses before they are averaged (a "loss
curriculum", SuperLoss's confidence weights): ``apply`` is a pure, jittable function of
the step's per-example losses, labels, logits, training-set indices and weights, and of
its state, a small pytree of arrays carried in the train state (so it is checkpointed
with it and replayed exactly on resume). It runs under the gradient: what it returns is
what the step minimises (its state is not differentiated).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax


class LossBatch(NamedTuple):
    """What a loss transform sees of one step, beside the per-example losses."""

    labels: jax.Array  # [B] int32
    logits: jax.Array  # [B, C] float32, train mode (classes outside the mask very negative)
    indices: jax.Array  # [B] int32 training-set indices (host-fed data: positions)
    weights: jax.Array  # [B] float32 the plan's weights; 0 marks padding


class LossTransform(NamedTuple):
    """``init(num_examples, num_classes) -> state``; ``apply(state, losses [B], batch) ->
    (losses [B], state)``: both pure (``apply`` jittable)."""

    init: Callable[[int, int], Any]
    apply: Callable[[Any, jax.Array, LossBatch], tuple[jax.Array, Any]]
