"""``prune``: static data pruning, docs/design.md §4.

Before the first round every training example is scored (``method.score``: EL2N, GraNd,
forgetting events, or a random draw) by scoring runs that train beside the student, an
auxiliary learner (``train/pruning_scores.py``); the sampler keeps ``method.keep_fraction``
of the examples once — the highest scores (``keep = "hardest"``, the papers' default), the
lowest (``"easiest"``), or coverage-centric selection over score bins (``"stratified"``,
Zheng et al. ICLR 2023, after dropping the ``hard_prune`` share of hardest) — and a fresh
student trains on the kept set only, in uniform batches. ``budget = "updates"``: the same
updates as ``random`` on all the data (so more passes over the kept set); ``"epochs"``: the
same passes (so fewer updates; rounds are short).
"""

from __future__ import annotations

import jax
import numpy as np

from lgl_spl import core
from lgl_spl.samplers.base import RoundPlan, Signals, check_signals, fill_round, round_rng
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method
from lgl_spl.settings import choice, integer, number
from lgl_spl.util import ceil_div

SCORES = ("el2n", "grand", "forgetting", "random")

FIELDS = {
    "score": choice(
        "el2n", "what ranks the examples: EL2N, GraNd at initialisation, forgetting events, "
        "or a random draw (the baseline)", SCORES,
    ),
    "keep_fraction": number(0.7, "share of the training examples kept", low=0.0, high=1.0,
                            low_open=True),
    "keep": choice(
        "hardest", "which are kept: the highest scores, the lowest, or coverage-centric "
        "selection (CCS) over score bins", ("hardest", "easiest", "stratified"),
    ),
    "hard_prune": number(0.1, "stratified: share of the highest scores dropped first (CCS's β)",
                         low=0.0, high=0.9),
    "bins": integer(50, "stratified: equal-width score bins (CCS's k)", low=1),
    "budget": choice(
        "updates", "the student's run on the kept set: the same updates as on all data "
        "(more passes), or the same passes (fewer updates)", ("updates", "epochs"),
    ),
    "score_models": integer(10, "scoring copies of the student, each its own initialisation "
                            "(the paper: 10)", low=1),
    "score_epochs": integer(
        0, "passes of each scoring copy over the training set, EL2N and forgetting (0: a tenth "
        "of the student's passes, at least 1; the paper: 20 of 200 epochs)", low=0,
    ),
}  # fmt: skip

_STREAM = 8  # CCS's draws within bins: round_rng(seed, 0, _STREAM)


def derive(m, train, *, baseline: int, num_classes: int, num_train: int) -> None:
    """``score_epochs = 0`` becomes a tenth of the student's passes (at least 1)."""
    del num_classes
    if not int(m.score_epochs):
        passes = baseline / ceil_div(num_train, int(train.batch_size))
        m.score_epochs = max(1, round(passes / 10))


def kept_examples(cfg, scores: np.ndarray, seed: int) -> np.ndarray:
    """[N] bool: the examples ``cfg`` (a prune method block) keeps, given their scores."""
    scores = np.asarray(scores, np.float32)
    n = scores.size
    num_keep = max(1, int(round(float(cfg.keep_fraction) * n)))
    if cfg.keep == "stratified":
        uniform = round_rng(seed, 0, _STREAM).random(n, dtype=np.float32)
        kept = _ccs(scores, uniform, num_keep, float(cfg.hard_prune), int(cfg.bins))
    else:
        kept = _by_score(scores, num_keep, cfg.keep == "hardest")
    return np.asarray(kept)


_by_score = jax.jit(
    lambda s, k, hardest: core.keep_by_score(s, k, hardest=hardest), static_argnums=(1, 2)
)
_ccs = jax.jit(
    lambda s, u, k, beta, bins: core.coverage_centric(s, u, k, hard_prune=beta, bins=bins),
    static_argnums=(2, 3, 4),
)


class PruneSampler:
    """The kept set, chosen once from ``signals.scores``; uniform batches over it."""

    def __init__(self, cfg, ctx: SamplerContext):
        self.cfg, self.ctx = cfg, ctx

    def init(self) -> dict:
        return {"kept": np.zeros(self.ctx.num_examples, np.int8), "chosen": np.int64(0)}

    def needs_signals(self, state, round_index: int) -> frozenset[str]:
        return frozenset() if int(state["chosen"]) else frozenset({"scores"})

    def plan_round(self, state, round_index: int, signals: Signals | None):
        ctx = self.ctx
        n, batch = ctx.num_examples, ctx.batch_size
        with ctx.timed("selection"):
            if not int(state["chosen"]):
                check_signals(signals, {"scores"}, num_examples=n, num_classes=ctx.num_classes,
                              what=f"prune, round {round_index}")  # fmt: skip
                kept = kept_examples(self.cfg, signals.scores, ctx.seed)
                state = {"kept": kept.astype(np.int8), "chosen": np.int64(1)}
            kept = np.flatnonzero(state["kept"])
            if self.cfg.budget == "updates":  # random's steps and examples, cycling the kept
                steps, count = ctx.steps_per_round, n
            else:
                steps, count = ceil_div(kept.size, batch), kept.size
            indices, weights = fill_round(
                round_rng(ctx.seed, round_index), kept, count, steps, batch
            )
        info = {
            "selected_fraction": float(kept.size / n),
            "selected_per_class": np.bincount(ctx.labels[kept], minlength=ctx.num_classes).tolist(),
            "pruned": int(n - kept.size),
            "round_steps": int(steps),
        }
        return RoundPlan(indices, weights, np.ones(ctx.num_classes, bool), 0, info), state


METHODS = (
    Method(
        "prune",
        PruneSampler,
        FIELDS,
        doc="static pruning: score every example (EL2N, GraNd, forgetting, random), keep a "
        "share, train a fresh student on it",
        # The scoring runs are the training side's: named by import path (samplers run no network).
        auxiliary=("lgl_spl.train.pruning_scores:scoring_runs",),
        derive=derive,
        short_rounds=True,
        tiny={"score_models": 2, "score_epochs": 2},
    ),
)
