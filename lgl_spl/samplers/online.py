"""Online batch selection: ``online_hard``, ``online_easy`` and ``rho_loss`` (docs/design.md §4).

These methods choose *inside each step*: the sampler hands every step ``candidates``
examples drawn uniformly (without replacement within a pass over the data), the
jitted step scores them with the current parameters and trains on the
``train.batch_size`` its selector keeps (``lgl_spl.core.step_selection``):

- ``online_hard``: the highest losses (Loshchilov & Hutter 2015);
- ``online_easy``: the lowest losses (online capped SPL; Co-teaching's small-loss trick);
- ``rho_loss``: the highest reducible losses, current − irreducible (Mindermann et al.
  2022), the irreducible losses coming from an auxiliary learner (by default two models,
  each trained on one half of the training data and scoring the other).

The first ``warmup_rounds`` rounds train on uniform batches (the row's first
candidates) and score nothing. With ``scorer = "proxy"`` a smaller network (``proxy_model``
at ``proxy_width`` × the student's width) scores the candidates instead of the student; it
trains beside the student on the student's batches (Coleman et al. 2020, Selection via
Proxy).
"""

from __future__ import annotations

import numpy as np

from lgl_spl import settings
from lgl_spl.core import step_selection
from lgl_spl.samplers.base import (
    Proxy,
    RoundPlan,
    Signals,
    StepSelector,
    fill_round,
    round_rng,
)
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method

DEFAULT_CANDIDATES_PER_BATCH = 10  # the RHO-LOSS paper's n_b / n_B = 0.1

FIELDS = {
    "candidates": settings.integer(
        0,
        "examples each step scores, ≥ train.batch_size (0: 10 × train.batch_size)",
        low=0,
    ),
    "warmup_rounds": settings.integer(
        1, "rounds of uniform batches (nothing scored) before the first selecting step", low=0
    ),
    "scorer": settings.choice(
        "student",
        "who scores a step's candidates: the student, or a proxy (a smaller network trained "
        "beside it on the student's batches: Selection via Proxy)",
        ("student", "proxy"),
    ),
    "proxy_model": settings.text(
        "", "the proxy's model name (empty: the student's architecture, narrower)"
    ),
    "proxy_width": settings.number(
        0.25, "the proxy's width, a share of the student's model.width", low=0.0, low_open=True
    ),
}
RHO_FIELDS = {
    **FIELDS,
    "il_model": settings.text(
        "", "the irreducible-loss model: a model name (empty: the student's architecture)"
    ),
    "il_epochs": settings.integer(10, "passes of the irreducible-loss model over its data", low=1),
    "il_data": settings.choice(
        "halves",
        "what the irreducible-loss model trains on: 'halves' (two models, each on one half of "
        "the training data, scoring the other: the paper's setting for data without a "
        "holdout) or 'holdout' (one model on a holdout carved from the training data)",
        ("halves", "holdout"),
    ),
    "holdout_fraction": settings.number(
        0.1,
        "share of the training data carved off as the holdout (il_data = 'holdout')",
        low=0.0,
        high=0.9,
        low_open=True,
    ),
    "clean_holdout": settings.flag(
        False, "the holdout keeps its clean labels (else the data's label noise applies)"
    ),
}


def num_candidates(cfg, batch_size: int) -> int:
    """``method.candidates``, with 0 meaning 10 × the batch."""
    return int(cfg.candidates) or DEFAULT_CANDIDATES_PER_BATCH * int(batch_size)


def derive(m, train, *, baseline: int, num_classes: int, num_train: int) -> None:
    """``candidates = 0`` becomes 10 × the batch (written to config.json)."""
    del baseline, num_classes, num_train
    m.candidates = num_candidates(m, train.batch_size)


class OnlineSampler:
    """Each step's row: ``candidates`` uniform draws, the data cycled through in passes."""

    def __init__(self, cfg, ctx: SamplerContext):
        self.ctx = ctx
        self.candidates = num_candidates(cfg, ctx.batch_size)
        self.warmup_rounds = int(cfg.warmup_rounds)

    def init(self) -> dict:
        return {}

    def needs_signals(self, state, round_index: int) -> frozenset[str]:
        return frozenset()

    def plan_round(self, state, round_index: int, signals: Signals | None):
        ctx = self.ctx
        steps, width = ctx.steps_per_round, self.candidates
        with ctx.timed("selection"):
            indices, weights = fill_round(
                round_rng(ctx.seed, round_index),
                np.arange(ctx.num_examples),
                steps * width,  # every slot real: the data are cycled through
                steps,
                width,
            )
        warm = round_index < self.warmup_rounds
        info = {
            # The share of a step's candidates it trains on (1 in a warm-up round).
            "selected_fraction": 1.0 if warm else ctx.batch_size / width,
            "warmup": warm,
        }
        return RoundPlan(indices, weights, np.ones(ctx.num_classes, bool), 0, info), state


def online_method(name: str, select, *, doc: str, fields=FIELDS, **more) -> Method:
    """An online batch selection method: uniform candidates each step, ``select`` keeps the
    batch (``(Candidates, k) -> positions``, pure and jittable)."""

    def selector(cfg, ctx: SamplerContext) -> StepSelector:
        proxy = None
        if cfg.scorer == "proxy":
            proxy = Proxy(model=str(cfg.proxy_model), width=float(cfg.proxy_width))
        return StepSelector(
            select=select,
            candidates=num_candidates(cfg, ctx.batch_size),
            warmup_steps=int(cfg.warmup_rounds) * ctx.steps_per_round,
            proxy=proxy,
        )

    # Tiny runs: 3 × the batch scored per step, one warm-up round.
    tiny = {"candidates": 96, **more.pop("tiny", {})}
    return Method(
        name, OnlineSampler, fields, doc=doc, step_selector=selector, derive=derive, tiny=tiny,
        **more,
    )  # fmt: skip


METHODS = (
    online_method(
        "online_hard",
        step_selection.highest_loss,
        doc="each step trains on the highest losses of its candidates (Loshchilov & Hutter)",
    ),
    online_method(
        "online_easy",
        step_selection.lowest_loss,
        doc="each step trains on the lowest losses of its candidates (the small-loss trick)",
    ),
    online_method(
        "rho_loss",
        step_selection.reducible_loss,
        fields=RHO_FIELDS,
        doc="each step trains on the highest reducible losses (RHO-LOSS)",
        auxiliary=("irreducible",),
        # The irreducible-loss model trains 2 epochs on a quarter of the data.
        tiny={"il_epochs": 2, "holdout_fraction": 0.25},
    ),
)
