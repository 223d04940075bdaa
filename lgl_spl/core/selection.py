"""Self-paced selection rules: SPL, SPL_INV and SPLD's closed form.

SPLD selects, inside each group ranked by ascending loss (rank i = 1, 2, …),
every example with L < λ + γ / (√i + √(i−1)). With γ ≥ 0 the threshold falls as
the rank grows, so the selection is a prefix of each group's sorted order and
can be found without sorting: bisect, per group, on the loss value T whose
count c(T) = #{L ≤ T} still satisfies T < threshold(c(T)). Each bisection step
is one O(N) gather + bincount; 32 steps cover every float32. Ties are broken
by example index (a stable sort's order); only when tied losses straddle a
group's boundary, or γ < 0, does it fall back to an exact sort.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

_NAN_KEY = np.uint32(0xFFFFFFFF)


def spl_select(losses: ArrayLike, lam: ArrayLike) -> jax.Array:
    """Classic SPL: keep the easy examples, L < λ.

    Example:
      >>> spl_select(jnp.array([0.1, 0.5, 0.9]), 0.6)
      Array([ True,  True, False], dtype=bool)
    """
    return jnp.asarray(losses) < lam


def spl_inv_select(losses: ArrayLike, lam: ArrayLike) -> jax.Array:
    """Inverse SPL (LGL §5.1): keep the hard examples, L > λ.

    Example:
      >>> spl_inv_select(jnp.array([0.1, 0.5, 0.9]), 0.4)
      Array([False,  True,  True], dtype=bool)
    """
    return jnp.asarray(losses) > lam


def spld_threshold(rank: ArrayLike, lam: ArrayLike, gamma: ArrayLike) -> jax.Array:
    """λ + γ / (√i + √(i−1)) for 1-based ranks i (+inf for rank 0)."""
    i = jnp.asarray(rank, jnp.float32)
    thr = lam + gamma / (jnp.sqrt(i) + jnp.sqrt(jnp.maximum(i - 1.0, 0.0)))
    return jnp.where(i >= 1, thr, jnp.inf)


def _order_keys(x: jax.Array) -> jax.Array:
    """float32 → uint32 with the same order; every NaN maps to the largest key."""
    x = x.astype(jnp.float32)
    x = jnp.where(x == 0, 0.0, x)  # -0.0 and +0.0 compare equal as floats
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
    keys = jnp.where(bits >> 31 == 1, ~bits, bits | np.uint32(0x80000000))
    return jnp.where(jnp.isnan(x), _NAN_KEY, keys)


def _spld_sorted(losses, groups, lam, gamma, num_groups):
    """Reference-exact path: stable sort by (group, loss, index), then rank."""
    n = losses.shape[0]
    order = jnp.lexsort((jnp.arange(n), _order_keys(losses), groups))
    sorted_groups = groups[order]
    counts = jnp.bincount(groups, length=num_groups)
    starts = jnp.cumsum(counts) - counts
    rank = jnp.arange(n) - starts[sorted_groups] + 1
    keep_sorted = losses[order] < spld_threshold(rank, lam, gamma)
    return jnp.zeros(n, bool).at[order].set(keep_sorted)


def _spld_bisect(losses, groups, lam, gamma, num_groups):
    n = losses.shape[0]
    keys = _order_keys(losses)
    # Counts are exact in float32 below 2**24, and the float bincount is ~2× faster.
    weight_dtype = jnp.float32 if n < 2**24 else jnp.int32

    def count_le(t_per_group):
        hits = (keys <= t_per_group[groups]).astype(weight_dtype)
        return jnp.bincount(groups, weights=hits, length=num_groups).astype(jnp.int32)

    def passes(t, counts):
        return t < _order_keys(spld_threshold(counts, lam, gamma))

    def body(_, lo_hi):
        lo, hi = lo_hi
        mid = lo + (hi - lo) // 2
        ok = passes(mid, count_le(mid))
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo = jnp.zeros(num_groups, jnp.uint32)  # passes: nothing is ≤ key 0
    hi = jnp.full(num_groups, _NAN_KEY)  # fails: NaN never passes
    lo, _ = jax.lax.fori_loop(0, 32, body, (lo, hi))
    keep = keys <= lo[groups]

    # The next distinct loss after the boundary may be tied across it: some of its
    # copies pass (by index order) and some do not. Detect, then resolve by sorting.
    selected = jnp.bincount(groups, weights=keep.astype(weight_dtype), length=num_groups)
    next_key = jax.ops.segment_min(jnp.where(keep, _NAN_KEY, keys), groups, num_segments=num_groups)
    next_ok = passes(next_key, selected.astype(jnp.int32) + 1) & (next_key != _NAN_KEY)
    return keep, jnp.any(next_ok)


def spld_select(
    losses: ArrayLike,
    groups: ArrayLike,
    lam: ArrayLike,
    gamma: ArrayLike,
    *,
    num_groups: int | None = None,
) -> jax.Array:
    """SPLD's closed-form selection (Jiang et al. 2014; SPL-ADVisE Algorithm 2).

    Within each group, examples ranked by ascending loss (ties by index) are
    selected iff L < λ + γ / (√i + √(i−1)). Exact, O(N) per bisection step, no
    full sort unless tied losses straddle a group's boundary or γ < 0. NaN
    losses are never selected.

    Args:
      losses: [N] float losses.
      groups: [N] int group ids in [0, num_groups).
      lam, gamma: pace parameters λ, γ (scalars).
      num_groups: static number of groups; inferred from concrete ``groups``.

    Example:
      >>> spld_select(jnp.array([0.1, 0.2, 0.3, 0.1]), jnp.array([0, 0, 0, 1]), 0.15, 0.2)
      Array([ True,  True, False,  True], dtype=bool)
    """
    if num_groups is None:
        try:
            num_groups = int(np.max(np.asarray(groups), initial=-1)) + 1
        except jax.errors.TracerArrayConversionError as e:
            raise ValueError("spld_select: pass num_groups when groups are traced") from e
        num_groups = max(num_groups, 1)
    return _spld_select(
        jnp.asarray(losses, jnp.float32), jnp.asarray(groups, jnp.int32), lam, gamma, num_groups
    )


@functools.partial(jax.jit, static_argnames=("num_groups",))
def _spld_select(losses, groups, lam, gamma, num_groups):
    lam = jnp.asarray(lam, jnp.float32)
    gamma = jnp.asarray(gamma, jnp.float32)
    keep, straddles = _spld_bisect(losses, groups, lam, gamma, num_groups)
    return jax.lax.cond(
        straddles | (gamma < 0),
        lambda: _spld_sorted(losses, groups, lam, gamma, num_groups),
        lambda: keep,
    )


@functools.partial(jax.jit, static_argnames=("num_groups",))
def spld_margins(
    losses: ArrayLike, groups: ArrayLike, gamma: ArrayLike, *, num_groups: int
) -> jax.Array:
    """L − γ / (√i + √(i−1)) with i the example's 1-based loss rank in its group.

    SPLD keeps an example iff its margin is below λ; under a cap on how many are kept,
    keeping the smallest margins maximises SPLD's objective (each group's marginal gains
    fall with the rank, so the greedy choice is optimal).

    Example:
      >>> m = spld_margins(jnp.array([0.1, 0.2, 0.3]), jnp.array([0, 0, 1]), 1.0, num_groups=2)
      >>> [round(float(x), 3) for x in m]  # ranks 1, 2 in group 0; rank 1 in group 1
      [-0.9, -0.214, -0.7]
    """
    losses = jnp.asarray(losses, jnp.float32)
    groups = jnp.asarray(groups, jnp.int32)
    n = losses.shape[0]
    order = jnp.lexsort((jnp.arange(n), _order_keys(losses), groups))
    counts = jnp.bincount(groups, length=num_groups)
    starts = jnp.cumsum(counts) - counts
    rank = jnp.zeros(n, jnp.int32).at[order].set(jnp.arange(n) - starts[groups[order]] + 1)
    i = rank.astype(jnp.float32)
    return losses - jnp.asarray(gamma, jnp.float32) / (jnp.sqrt(i) + jnp.sqrt(i - 1.0))


@jax.jit
def cap_selection(keep: ArrayLike, scores: ArrayLike, max_count: ArrayLike) -> jax.Array:
    """At most ``max_count`` of the kept examples: those with the smallest ``scores``.

    Ties go to the lower index. SPL caps with the losses as scores, SPL_INV with the
    negated losses, SPLD with :func:`spld_margins`.

    Example:
      >>> cap_selection(jnp.array([True, True, False, True]), jnp.array([3.0, 1.0, 0.0, 2.0]), 2)
      Array([False,  True, False,  True], dtype=bool)
    """
    keep = jnp.asarray(keep, bool)
    n = keep.shape[0]
    masked = jnp.where(keep, _order_keys(jnp.asarray(scores, jnp.float32)), _NAN_KEY)
    order = jnp.lexsort((jnp.arange(n), masked, ~keep))
    position = jnp.zeros(n, jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))
    return keep & (position < max_count)
