"""``lgl``: Local-to-Global Learning (Cheng et al. 2019), docs/design.md §4.

Classes are added in m stages of ceil(C/m). Stage k trains on every example of
the classes added so far; the C-way head stays, untrained classes' logits are
masked, the rows of newly added classes are re-initialised and the learning
rate schedule restarts. The first classes are drawn at random (the same for
every order strategy); later ones by the conditional entropy of the student's
softmax over the trained classes: ``random``, ``dissimilar`` (argmax) or
``similar`` (argmin).

Budget: the run's rounds are split over the stages in proportion to the
classes each stage trains on, i.e. the same number of passes over each
stage's data, as in the paper. With ``method.budget = 'paper'`` the run is the
baseline's steps × Σ cumulative stage sizes / C, so every stage trains the
baseline's full schedule over its classes; ``'fair'`` keeps the baseline's
steps (``lgl_spl.train.run_length.resolve`` derives both). ``method.schedule_steps``
(the baseline's run length) stretches the LR schedule over each stage.
"""

from __future__ import annotations

import numpy as np

from lgl_spl import core, settings
from lgl_spl.errors import ConfigError
from lgl_spl.samplers.base import (
    RoundPlan,
    Signals,
    check_signals,
    fill_round,
    round_rng,
    stream_key,
)
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method
from lgl_spl.samplers.self_paced import selection_info

FIELDS = {
    "num_stages": settings.integer(3, "m: stages of ceil(C/m) classes", low=1),
    "order": settings.choice(
        "random", "how later stages pick their classes", tuple(core.LGL_STRATEGIES)
    ),
    "budget": settings.choice(
        "paper",
        "paper: every stage gets the baseline's schedule over its classes; fair: the "
        "baseline's updates split over the stages",
        ("paper", "fair"),
    ),
    "schedule_steps": settings.integer(
        0, "the baseline's run length: each stage stretches the LR schedule over it (0: off)", low=0
    ),
}


def derive(m, train, *, baseline: int, num_classes: int, num_train: int) -> None:
    """LGL's settings derived from the baseline's run (``train.run_length.resolve``).

    The schedule restarts over ``schedule_steps`` (0: the baseline's run). ``budget =
    "paper"`` gives every stage the baseline's full schedule over its classes: the run
    is the baseline's steps × Σ cumulative stage sizes / C; ``"fair"`` splits the
    baseline's steps over the stages (the run stays the baseline's).
    """
    if not int(m.schedule_steps):
        m.schedule_steps = baseline
    if m.budget == "paper":
        sizes = core.stage_sizes(num_classes, int(m.num_stages))
        train.num_steps = round(baseline * sum(np.cumsum(sizes)) / num_classes)


class LGLSampler:
    def __init__(self, cfg, ctx: SamplerContext):
        self.ctx = ctx
        self.order = cfg.order
        if self.order not in core.LGL_STRATEGIES:
            raise ConfigError(
                f"unknown LGL order {self.order!r}; choose one of {', '.join(core.LGL_STRATEGIES)}"
            )
        m = int(cfg.num_stages)
        if not 1 <= m <= ctx.num_classes:
            raise ConfigError(
                f"method.num_stages must be between 1 and the {ctx.num_classes} classes, got {m}"
            )
        self.sizes = core.stage_sizes(ctx.num_classes, m)
        if len(self.sizes) != m:  # e.g. 10 classes in 6 stages of ceil(10/6) = 2: only 5
            raise ConfigError(
                f"method.num_stages={m} cannot split {ctx.num_classes} classes into groups of "
                f"ceil({ctx.num_classes}/{m}) = {self.sizes[0]}: that gives only "
                f"{len(self.sizes)} stages; choose num_stages={len(self.sizes)}"
            )
        cumulative = np.cumsum(self.sizes)
        rounds = ctx.num_rounds
        if rounds < len(self.sizes):
            raise ConfigError(
                f"LGL with {len(self.sizes)} stages needs at least as many rounds; "
                f"train.num_steps gives {rounds}"
            )
        ends = np.round(np.cumsum(cumulative) / cumulative.sum() * rounds).astype(int)
        ends = np.maximum(ends, np.arange(1, len(ends) + 1))  # every stage ≥ 1 round
        self.stage_starts = np.concatenate([[0], ends[:-1]])
        self.schedule_steps = int(cfg.schedule_steps)

    def stage_of(self, round_index: int) -> int:
        return int(np.searchsorted(self.stage_starts, round_index, side="right") - 1)

    def init(self) -> dict:
        c = self.ctx.num_classes
        # The entropies measured when the current stage's classes were chosen (NaN: not measured).
        return {"trained": np.zeros(c, bool), "entropies": np.full(c, np.nan, np.float32)}

    def needs_signals(self, state, round_index: int) -> frozenset[str]:
        stage = self.stage_of(round_index)
        choosing = self.order != "random" and stage > 0 and round_index == self.stage_starts[stage]
        return frozenset({"class_entropies"} if choosing else ())

    def _choose(self, state, stage: int, signals: Signals | None) -> tuple[np.ndarray, np.ndarray]:
        ctx = self.ctx
        trained = np.asarray(state["trained"])
        key = stream_key(ctx.seed, stage, 5)
        strategy = "random" if stage == 0 else self.order
        entropies = np.full(ctx.num_classes, np.nan, np.float32)
        if strategy != "random":
            if signals.class_entropies is not None:  # summed on the devices
                entropies = np.asarray(signals.class_entropies, np.float32)
            else:
                entropies = np.asarray(
                    core.class_conditional_entropies(
                        signals.logits, ctx.labels, trained, num_classes=ctx.num_classes
                    ),
                    np.float32,
                )
            entropies = np.where(trained, np.nan, entropies).astype(np.float32)
        # Classes without training examples (an npz's unused label) come last whatever the
        # order: a stage made only of them would have nothing to train on.
        has_examples = np.bincount(ctx.labels, minlength=ctx.num_classes) > 0
        num = self.sizes[stage]
        chosen = np.asarray(
            core.choose_classes(key, entropies, ~trained & has_examples, num=num, strategy=strategy)
        )
        if chosen.sum() < num:
            rest = ~trained & ~chosen
            chosen = chosen | np.asarray(
                core.choose_classes(
                    key, entropies, rest, num=num - int(chosen.sum()), strategy=strategy
                )
            )
        return chosen, entropies

    def plan_round(self, state, round_index: int, signals: Signals | None):
        ctx = self.ctx
        check_signals(
            signals,
            self.needs_signals(state, round_index),
            num_examples=ctx.num_examples,
            num_classes=ctx.num_classes,
            what=f"lgl round {round_index}",
        )
        stage = self.stage_of(round_index)
        state = dict(state)
        new = np.zeros(ctx.num_classes, bool)
        if round_index == self.stage_starts[stage]:
            with ctx.timed("selection"):
                new, state["entropies"] = self._choose(state, stage, signals)
            state["trained"] = np.asarray(state["trained"]) | new
        trained = np.asarray(state["trained"])
        keep = trained[ctx.labels]
        with ctx.timed("selection"):
            indices, weights = fill_round(
                round_rng(ctx.seed, round_index),
                np.flatnonzero(keep),
                ctx.num_examples,
                ctx.steps_per_round,
                ctx.batch_size,
            )
        start_step = int(self.stage_starts[stage]) * ctx.steps_per_round
        next_start = (
            int(self.stage_starts[stage + 1]) * ctx.steps_per_round
            if stage + 1 < len(self.stage_starts)
            else ctx.num_steps
        )
        stage_steps = max(next_start - start_step, 1)
        scale = self.schedule_steps / stage_steps if self.schedule_steps else 1.0
        info = selection_info(ctx, keep, None)
        info.update(stage=stage, classes=np.flatnonzero(trained).tolist())
        entropies = np.asarray(state["entropies"])
        if np.isfinite(entropies).any():  # LGL Table 2: how far each remaining class is
            info["class_entropies"] = [float(h) if np.isfinite(h) else None for h in entropies]
        plan = RoundPlan(
            indices,
            weights,
            trained.copy(),
            start_step,
            info,
            schedule_scale=scale,
            reinit_classes=new if stage > 0 and new.any() else None,
        )
        return plan, state


METHODS = (
    Method(
        "lgl",
        LGLSampler,
        FIELDS,
        doc="local to global: classes added stage by stage",
        derive=derive,
        tiny={"num_stages": 3, "order": "dissimilar", "budget": "fair"},
    ),
)
