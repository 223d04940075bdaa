"""InfoBatch's prune-and-rescale (Qin et al., ICLR 2024), one pass over the data at a time.

Of the examples whose score (their most recent training loss) is below the mean score
("well learned"), each is left out of the pass with probability ``ratio``, and the loss of
each one kept is multiplied by ``1 / (1 − ratio)``: every well-learned example then counts
``(1 − ratio) · 1 / (1 − ratio) = 1`` in expectation, so the pass's expected gradient is the
full data's. The others are always kept at weight 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def infobatch_prune(
    uniform: jax.Array, scores: jax.Array, ratio: float
) -> tuple[jax.Array, jax.Array]:
    """``(keep [N] bool, weights [N] float32)``: which examples the pass trains on, and the
    weight of each (0 for the left-out ones). ``uniform`` [N]: draws in [0, 1), one per
    example (a well-learned example is left out when its draw is below ``ratio``); ``ratio``
    in [0, 1)."""
    scores = jnp.asarray(scores, jnp.float32)
    well = scores < jnp.mean(scores)
    drop = well & (jnp.asarray(uniform) < ratio)
    keep = ~drop
    weights = jnp.where(well, 1.0 / (1.0 - ratio), 1.0) * keep
    return keep, weights.astype(jnp.float32)
