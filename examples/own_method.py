"""A method of your own, written outside lgl_spl with its public API only.

Loss-proportional sampling (in the spirit of Katharopoulos & Fleuret 2018, "Not all
samples are created equal"): after ``warmup_rounds`` rounds of uniform shuffling, every
``rescore_every`` rounds the student's loss on each training example is scored (one
eval-mode pass, counted as extra forward passes by the program), and the round's updates
draw their examples with probability ``p_i ∝ (loss_i + smoothing)^power``. Each drawn
example is weighted by ``1 / (N p_i)``, so a step's weighted mean loss is a self-normalised
importance-sampling estimate of the full data's mean loss: the hard examples are seen more
often, without biasing what is minimised.

Run it like any method, by import path, from the repository's root (or with this folder
on ``PYTHONPATH``)::

    python -m lgl_spl.main --config configs/digits_random.py \\
        --config.method.name=examples.own_method:LOSS_PROPORTIONAL --config.method.power=0.5

or from a loop of your own: ``lgl_spl.build_sampler(LOSS_PROPORTIONAL, labels=…, …)``.
"""

from __future__ import annotations

import numpy as np

import lgl_spl as L


class LossProportionalSampler:
    """The sampler: a pure state machine from (state, round, signals) to a round's plan."""

    def __init__(self, cfg, ctx: L.SamplerContext):
        self.ctx = ctx
        self.warmup, self.every = int(cfg.warmup_rounds), int(cfg.rescore_every)
        self.power, self.smoothing = float(cfg.power), float(cfg.smoothing)

    def init(self):
        # Everything the sampler carries between rounds, as numpy arrays: it is saved in the
        # run's checkpoints, so a resumed run plans the same rounds.
        return {"probabilities": np.full(self.ctx.num_examples, np.nan, np.float32)}

    def _scores(self, round_index: int) -> bool:
        return round_index >= self.warmup and (round_index - self.warmup) % self.every == 0

    def needs_signals(self, state, round_index):
        return frozenset({"losses"}) if self._scores(round_index) else frozenset()

    def plan_round(self, state, round_index, signals):
        ctx = self.ctx
        n, steps, batch = ctx.num_examples, ctx.steps_per_round, ctx.batch_size
        rng = L.round_rng(ctx.seed, round_index)  # every draw: a function of (seed, round)
        if self._scores(round_index):
            if signals is None or signals.losses is None:
                raise L.SignalError(f"loss_proportional round {round_index} needs losses")
            raw = (np.maximum(signals.losses, 0.0) + self.smoothing) ** self.power
            state = {"probabilities": (raw / raw.sum()).astype(np.float32)}
        p = state["probabilities"]
        class_mask = np.ones(ctx.num_classes, bool)
        if np.isnan(p[0]):  # warm-up: one shuffled pass, as `random`
            indices, weights = L.fill_round(rng, np.arange(n), n, steps, batch)
            info = {"selected_fraction": 1.0}
            return L.RoundPlan(indices, weights, class_mask, 0, info), state
        q = p.astype(np.float64)
        drawn = rng.choice(n, size=steps * batch, p=q / q.sum())
        weights = (1.0 / (n * p[drawn])).astype(np.float32)
        info = {
            # The share of distinct examples the round saw, and how uneven the draw is.
            "selected_fraction": float(np.unique(drawn).size / n),
            "max_probability_ratio": float(p.max() * n),
        }
        shape = (steps, batch)
        plan = L.RoundPlan(drawn.reshape(shape).astype(np.int32), weights.reshape(shape),
                           class_mask, 0, info)  # fmt: skip
        return plan, state


LOSS_PROPORTIONAL = L.Method(
    "loss_proportional",
    LossProportionalSampler,
    {
        "warmup_rounds": L.integer(1, "rounds of uniform shuffling before the first draw", low=0),
        "rescore_every": L.integer(1, "rounds between scoring passes", low=1),
        "power": L.number(1.0, "p ∝ (loss + smoothing)^power; 0: uniform", low=0.0),
        "smoothing": L.number(
            0.1, "added to every loss, so no example is never drawn", low=0.0, low_open=True
        ),
    },  # fmt: skip
    doc="draw examples with probability proportional to their loss, importance-weighted",
)
