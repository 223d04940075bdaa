"""``random``: both papers' baseline, uniform reshuffling of all data every round."""

from __future__ import annotations

import numpy as np

from lgl_spl.samplers.base import RoundPlan, Signals, fill_round, round_rng
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method

FIELDS = {}  # no settings


class RandomSampler:
    """One shuffled pass over the training set per round; the last batch is padded."""

    def __init__(self, cfg, ctx: SamplerContext):
        del cfg
        self.ctx = ctx

    def init(self) -> dict:
        return {}

    def needs_signals(self, state, round_index: int) -> frozenset[str]:
        return frozenset()

    def plan_round(self, state, round_index: int, signals: Signals | None):
        ctx = self.ctx
        with ctx.timed("selection"):
            indices, weights = fill_round(
                round_rng(ctx.seed, round_index),
                np.arange(ctx.num_examples),
                ctx.num_examples,
                ctx.steps_per_round,
                ctx.batch_size,
            )
        info = {"selected_fraction": 1.0}
        return RoundPlan(indices, weights, np.ones(ctx.num_classes, bool), 0, info), state


METHODS = (Method("random", RandomSampler, FIELDS, doc="uniform shuffling of all data"),)
