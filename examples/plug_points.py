"""Three small methods outside the package, each using one of the method API's plug points.

- ``PRUNE_EASY`` (``step_signals`` and ``short_rounds``): dynamic pruning in the spirit of
  InfoBatch (Qin et al. 2024), reduced to its core. Each example's most recent training
  loss comes from the training steps themselves (``signals.trained``: no extra forward
  pass); each round, of the examples whose last loss is below the mean, a random
  ``prune_ratio`` share sits the round out, and the round takes only the steps the rest
  need. The kept below-mean examples' losses are scaled by 1 / (1 − ratio), so the
  expected gradient is the full data's. The run keeps its passes over the data (the
  learning-rate schedule follows them), so it takes fewer updates.
- ``TRUNCATED_LOSS`` (``loss_transform``): a per-example loss capped at ``cap`` times a
  running mean of the training loss (its state, carried in the train state): examples far
  harder than the rest, such as mislabelled ones, stop pulling on the weights.
- ``WEIGHTED_HARD`` (a step selector that weights): online hard-example selection that
  keeps the batch of highest losses among each step's candidates and weights each by its
  loss over their mean.

Run any of them by import path from the repository's root, e.g.::

    python -m lgl_spl.main --config configs/digits_random.py \\
        --config.method.name=examples.plug_points:PRUNE_EASY
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import lgl_spl as L

# ---- dynamic pruning: step signals, rounds of varying length ------------------------------


class PruneEasySampler:
    def __init__(self, cfg, ctx: L.SamplerContext):
        self.ctx, self.ratio = ctx, float(cfg.prune_ratio)

    def init(self):
        # The last training loss of every example (NaN: not trained on yet).
        return {"last_loss": np.full(self.ctx.num_examples, np.nan, np.float32)}

    def needs_signals(self, state, round_index):
        return frozenset()  # the training steps' own losses arrive as signals.trained

    def plan_round(self, state, round_index, signals):
        ctx = self.ctx
        last = state["last_loss"].copy()
        if signals is not None and signals.trained is not None:
            t = signals.trained
            real = t.weights > 0
            last[t.indices[real]] = t.losses[real]  # in order: the latest presentation wins
        rng = L.round_rng(ctx.seed, round_index)
        weights_of = np.ones(ctx.num_examples, np.float32)
        kept = np.arange(ctx.num_examples)
        seen = ~np.isnan(last)
        if seen.all():
            easy = np.flatnonzero(last < last.mean())
            dropped = rng.choice(easy, size=int(self.ratio * easy.size), replace=False)
            keep = np.ones(ctx.num_examples, bool)
            keep[dropped] = False
            kept = np.flatnonzero(keep)
            weights_of[easy] = 1.0 / (1.0 - self.ratio)  # the easy ones that stayed
        steps = -(-kept.size // ctx.batch_size)  # fewer steps: the pruned examples' saved
        indices, weights = L.fill_round(rng, kept, kept.size, steps, ctx.batch_size)
        weights = weights * weights_of[indices]
        info = {"selected_fraction": kept.size / ctx.num_examples, "round_steps": steps}
        plan = L.RoundPlan(indices, weights, np.ones(ctx.num_classes, bool), 0, info)
        return plan, {"last_loss": last}


PRUNE_EASY = L.Method(
    "prune_easy",
    PruneEasySampler,
    {
        "prune_ratio": L.number(
            0.5, "share of the below-mean-loss examples left out", low=0.0, high=1.0
        )
    },  # fmt: skip
    doc="each round leaves out a random share of the examples the steps found easy",
    step_signals=True,
    short_rounds=True,
)

# ---- a loss transform with a state of its own -----------------------------------------


def _truncated_loss(cfg, ctx):
    cap, decay = float(cfg.cap), float(cfg.decay)

    def init(num_examples, num_classes):
        return {"mean": jnp.float32(0.0), "seen": jnp.int32(0)}

    def apply(state, losses, batch: L.LossBatch):
        real = batch.weights > 0
        batch_mean = jnp.sum(jnp.where(real, losses, 0.0)) / jnp.maximum(jnp.sum(real), 1)
        mean = jnp.where(state["seen"] > 0, decay * state["mean"] + (1 - decay) * batch_mean,
                         batch_mean)  # fmt: skip
        limit = cap * jax.lax.stop_gradient(mean)
        return jnp.minimum(losses, limit), {"mean": mean, "seen": state["seen"] + 1}

    return L.LossTransform(init, apply)


TRUNCATED_LOSS = L.Method(
    "truncated_loss",
    L.get_method("random").build,  # the package's own uniform sampler
    {
        "cap": L.number(
            3.0, "losses above cap × the running mean loss count as the cap", low=0.0, low_open=True
        ),
        "decay": L.number(0.9, "the running mean's decay per step", low=0.0, high=1.0),
    },  # fmt: skip
    doc="uniform batches; each example's loss capped at a multiple of the running mean",
    loss_transform=_truncated_loss,
)

# ---- a step selector that weights what it keeps --------------------------------------


def _weighted_hard(candidates: L.Candidates, k: int):
    positions = L.highest_loss(candidates, k)
    kept = candidates.losses[positions]
    return positions, kept / jnp.maximum(jnp.mean(kept), 1e-6)


def _weighted_selector(cfg, ctx):
    return L.StepSelector(
        select=_weighted_hard,
        candidates=int(cfg.candidates) or 10 * ctx.batch_size,  # 0: 10 × the batch
        warmup_steps=int(cfg.warmup_rounds) * ctx.steps_per_round,
    )


# A variant of a built-in method: online_hard's sampler, settings and derived settings,
# with a selector of its own.
WEIGHTED_HARD = dataclasses.replace(
    L.get_method("online_hard"),
    name="weighted_hard",
    doc="each step keeps its highest losses, each weighted by its loss over their mean",
    step_selector=_weighted_selector,
)
