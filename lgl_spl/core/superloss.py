"""SuperLoss (Castells et al., NeurIPS 2020): per-example confidence in closed form.

For a per-example loss ℓ, a threshold τ and a regularisation λ > 0, the confidence that
minimises (ℓ − τ)·σ + λ·(log σ)² is σ* = exp(−W(½·max(−2/e, β))), β = (ℓ − τ) / λ, with W
the principal branch of the Lambert W function; the SuperLoss is that minimum, with σ*
held constant (no gradient flows through it): easy examples (ℓ < τ) get σ* > 1, hard ones
σ* < 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_E = float(jnp.e)


def lambertw(x: jax.Array, iterations: int = 8) -> jax.Array:
    """The principal branch W₀ of the Lambert W function (w·eʷ = x) for x ≥ −1/e, float32.

    Halley's iteration from the branch-point series near −1/e and log1p(x) elsewhere; at
    x = −1/e it is −1. Below −1/e (outside W₀'s domain) it gives NaN.
    """
    x = jnp.asarray(x, jnp.float32)
    p = jnp.sqrt(jnp.maximum(2.0 * (_E * x + 1.0), 0.0))
    near = -1.0 + p - p**2 / 3.0 + 11.0 / 72.0 * p**3  # the series about the branch point
    big = jnp.log(jnp.maximum(x, 1e-30)) - jnp.log(jnp.maximum(jnp.log(jnp.maximum(x, 3.0)), 1e-30))
    w = jnp.where(x < 0.25, near, jnp.where(x < 3.0, jnp.log1p(x), big))

    def halley(_, w):
        ew = jnp.exp(w)
        f = w * ew - x
        wp1 = w + 1.0
        safe = jnp.abs(wp1) > 1e-6
        denominator = ew * wp1 - (w + 2.0) * f / jnp.where(safe, 2.0 * wp1, 1.0)
        step = jnp.where(
            safe & (denominator != 0), f / jnp.where(denominator == 0, 1.0, denominator), 0.0
        )
        return w - step

    w = jax.lax.fori_loop(0, iterations, halley, w)
    return jnp.where(x < -1.0 / _E - 1e-7, jnp.nan, w)


def superloss_confidence(losses: jax.Array, tau, lam: float) -> jax.Array:
    """σ* per example (no gradient): exp(−W(½·max(−2/e, (ℓ − τ) / λ)))."""
    beta = (jax.lax.stop_gradient(losses) - tau) / lam
    return jnp.exp(-lambertw(0.5 * jnp.maximum(-2.0 / _E, beta)))


def superloss(losses: jax.Array, tau, lam: float) -> jax.Array:
    """The SuperLoss of each example: (ℓ − τ)·σ* + λ·(log σ*)², σ* and τ held constant (its
    gradient is σ*·∇ℓ)."""
    tau = jax.lax.stop_gradient(tau)
    sigma = jax.lax.stop_gradient(superloss_confidence(losses, tau, lam))
    return (losses - tau) * sigma + lam * jnp.log(sigma) ** 2
