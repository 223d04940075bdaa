"""``random``: both papers' baseline, uniform reshuffling of all data every round."""

from __future__ import annotations

import numpy as np

from lgl_spl.samplers.base import RoundPlan, Signals, fill_round, round_rng


class RandomSampler:
    """One shuffled pass over the training set per round; the last batch is padded."""

    def __init__(self, *, num_examples: int, num_classes: int, batch_size: int, seed: int):
        self.n = num_examples
        self.num_classes = num_classes
        self.batch = batch_size
        self.steps = -(-num_examples // batch_size)
        self.seed = seed

    def init(self) -> dict:
        return {}

    def needs_signals(self, state, round_index: int) -> bool:
        return False

    def plan_round(self, state, round_index: int, signals: Signals | None):
        rng = round_rng(self.seed, round_index)
        indices, weights = fill_round(rng, np.arange(self.n), self.n, self.steps, self.batch)
        plan = RoundPlan(
            indices=indices,
            weights=weights,
            class_mask=np.ones(self.num_classes, bool),
            schedule_start=0,
            info={"selected_fraction": 1.0},
        )
        return plan, state
