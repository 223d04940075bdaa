"""The pace rule: λ and γ "set from ranked samples" (docs/design.md §4)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


class Pace(NamedTuple):
    """fraction q_e, λ_e (easy threshold), γ_e (diversity), λ for SPL_INV."""

    fraction: jax.Array
    lam: jax.Array
    gamma: jax.Array
    lam_inv: jax.Array


def pace_fraction(
    round_index: ArrayLike, *, q0: float = 0.5, beta1: float = 0.1, max_fraction: float = 1.0
) -> jax.Array:
    """Target selected fraction q_e = min(max_fraction, q₀·(1+β₁)^e); the papers' cap is 1.

    Example:
      >>> float(pace_fraction(0))
      0.5
    """
    e = jnp.asarray(round_index, jnp.float32)
    return jnp.minimum(max_fraction, q0 * (1.0 + beta1) ** e)


@functools.partial(jax.jit, static_argnames=("q0", "beta1", "beta2", "g0", "max_fraction"))
def pace(
    losses: ArrayLike,
    round_index: ArrayLike,
    *,
    q0: float = 0.5,
    beta1: float = 0.1,
    beta2: float = 0.1,
    g0: float = 0.5,
    max_fraction: float = 1.0,
) -> Pace:
    """λ_e = the q_e-quantile of the losses, γ_e = g₀·(1+β₂)^e · λ_e.

    Once q_e reaches 1, λ is +inf (SPL and SPLD select everything) and the
    SPL_INV threshold is −inf. ``lam_inv`` is the (1 − q_e)-quantile, so
    ``spl_inv_select(losses, lam_inv)`` keeps the q_e fraction with the largest
    losses.

    Example:
      >>> p = pace(jnp.arange(10.0), 0)
      >>> float(p.fraction), float(p.lam)
      (0.5, 4.5)
    """
    losses = jnp.asarray(losses, jnp.float32)
    q = pace_fraction(round_index, q0=q0, beta1=beta1, max_fraction=max_fraction)
    full = q >= 1.0
    lam = jnp.where(full, jnp.inf, jnp.quantile(losses, q))
    lam_inv = jnp.where(full, -jnp.inf, jnp.quantile(losses, 1.0 - q))
    growth = g0 * (1.0 + beta2) ** jnp.asarray(round_index, jnp.float32)
    gamma = jnp.where(full, 0.0, growth * lam)
    return Pace(q, lam, gamma, lam_inv)
