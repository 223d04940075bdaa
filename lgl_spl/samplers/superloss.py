"""``superloss``: loss reweighting by SuperLoss (Castells et al., NeurIPS 2020), docs/design.md §4.

The data order is `random`'s (uniform shuffling); inside the train step every example's
cross-entropy ℓ is replaced by its SuperLoss (``core.superloss``): (ℓ − τ)·σ* + λ·(log σ*)²
with the confidence σ* in closed form, so examples harder than τ weigh less and easier ones
more. τ is ``log C`` (``method.tau = "log_classes"``, the loss of a uniform prediction) or a
running mean of the training loss (``"ema"``, the default: updated from each step's batch
before it is used, starting at log C; its state rides in the train state). λ is
``method.lam``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from lgl_spl.core.loss_transform import LossBatch, LossTransform
from lgl_spl.core.superloss import superloss
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method
from lgl_spl.samplers.uniform import RandomSampler
from lgl_spl.settings import choice, number

FIELDS = {
    "tau": choice(
        "ema", "the threshold τ: the training loss's running mean, or log C", ("ema", "log_classes")
    ),
    "tau_decay": number(0.9, "the running mean's decay per step (tau = 'ema')", low=0.0, high=1.0),
    "lam": number(1.0, "the regularisation λ (smaller: harder examples weigh less)", low=0.0,
                  low_open=True),
}  # fmt: skip


def superloss_transform(cfg, ctx: SamplerContext) -> LossTransform:
    """The per-example loss transform of ``cfg`` (a superloss method block)."""
    lam, decay, ema = float(cfg.lam), float(cfg.tau_decay), cfg.tau == "ema"
    log_classes = math.log(ctx.num_classes)

    def init(num_examples: int, num_classes: int):
        return {"tau": jnp.float32(math.log(num_classes))}

    def apply(state, losses, batch: LossBatch):
        tau = state["tau"]
        if ema:
            real = batch.weights > 0
            held = jax.lax.stop_gradient(losses)  # τ is a threshold, not a term to minimise
            mean = jnp.sum(jnp.where(real, held, 0.0)) / jnp.maximum(jnp.sum(real), 1)
            tau = decay * tau + (1.0 - decay) * mean
        else:
            tau = jnp.float32(log_classes)
        return superloss(losses, tau, lam), {"tau": tau}

    return LossTransform(init, apply)


METHODS = (
    Method(
        "superloss",
        RandomSampler,
        FIELDS,
        doc="uniform batches; each example's loss reweighted by SuperLoss's closed-form confidence",
        loss_transform=superloss_transform,
    ),
)
