"""``infobatch``: dynamic pruning (Qin et al., "InfoBatch: Lossless Training Speed Up by
Unbiased Dynamic Data Pruning", ICLR 2024), docs/design.md §4.

Every example's score is its most recent training loss, taken from the training steps
themselves (step signals: no extra forward pass; 1 before an example is first trained on,
as the paper's code starts them, so the first pass prunes nothing). Each round — one pass
over the data — the examples scored below the mean are left out with probability
``method.prune_ratio`` and the ones kept have their loss multiplied by 1 / (1 − ratio)
(``core.infobatch_prune``); the round takes only the steps the kept examples need, and a
step averages its losses over its examples (``loss_mean = "examples"``), as the paper's
``loss.mul(weights).mean()``. From the round at ``method.anneal`` of the run on (the
paper's δ = 0.875: the last eighth), every round trains on all data, unweighted. The run
keeps `random`'s passes over the data, so it takes fewer updates; the learning-rate
schedule follows the passes (docs/design.md, "Writing a method": short rounds).
"""

from __future__ import annotations

import jax
import numpy as np

from lgl_spl import core
from lgl_spl.samplers.base import RoundPlan, Signals, fill_round, round_rng
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method
from lgl_spl.settings import number
from lgl_spl.util import ceil_div

FIELDS = {
    "prune_ratio": number(
        0.5, "share of the below-mean-loss examples left out of each pass (the paper's r)",
        low=0.0, high=0.95,
    ),
    "anneal": number(
        0.875, "share of the passes that prune; the rest train on all data (the paper's δ)",
        low=0.0, high=1.0,
    ),
}  # fmt: skip

_STREAM = 7  # the pruning draws: round_rng(seed, round, _STREAM)
_prune = jax.jit(core.infobatch_prune, static_argnums=2)  # one dispatch a round


class InfoBatchSampler:
    def __init__(self, cfg, ctx: SamplerContext):
        self.ctx = ctx
        self.ratio, self.anneal = float(cfg.prune_ratio), float(cfg.anneal)

    def init(self) -> dict:
        return {"scores": np.ones(self.ctx.num_examples, np.float32)}

    def needs_signals(self, state, round_index: int) -> frozenset[str]:
        return frozenset()  # the steps' own losses arrive as signals.trained

    def prunes(self, round_index: int) -> bool:
        """Whether round ``round_index`` prunes: before ``anneal`` of the run's rounds."""
        return round_index < self.anneal * self.ctx.num_rounds

    def plan_round(self, state, round_index: int, signals: Signals | None):
        ctx = self.ctx
        n, batch = ctx.num_examples, ctx.batch_size
        with ctx.timed("selection"):
            scores = state["scores"].copy()
            if signals is not None and signals.trained is not None:
                t = signals.trained
                real = t.weights > 0
                scores[t.indices[real]] = t.losses[real]  # in order: the latest one stays
            if self.prunes(round_index) and self.ratio > 0:
                uniform = round_rng(ctx.seed, round_index, _STREAM).random(n, np.float32)
                keep, weight_of = (np.asarray(a) for a in _prune(uniform, scores, self.ratio))
                kept = np.flatnonzero(keep)
            else:
                kept, weight_of = np.arange(n), np.ones(n, np.float32)
            steps = ceil_div(kept.size, batch)
            indices, weights = fill_round(
                round_rng(ctx.seed, round_index), kept, kept.size, steps, batch
            )
            weights = weights * weight_of[indices]
        info = {
            "selected_fraction": float(kept.size / n),
            "selected_per_class": np.bincount(ctx.labels[kept], minlength=ctx.num_classes).tolist(),
            "pruned": int(n - kept.size),
            "round_steps": int(steps),
            "mean_score": float(np.mean(scores)),
        }
        plan = RoundPlan(indices, weights, np.ones(ctx.num_classes, bool), 0, info)
        return plan, {"scores": scores}


METHODS = (
    Method(
        "infobatch",
        InfoBatchSampler,
        FIELDS,
        doc="dynamic pruning: each pass leaves out a random share of the well-learned "
        "examples and rescales the rest (InfoBatch)",
        step_signals=True,
        short_rounds=True,
        loss_mean="examples",
    ),
)
