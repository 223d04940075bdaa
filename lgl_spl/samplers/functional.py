"""Any method's sampler, built from plain arguments and driven from your own loop.

    sampler = build_sampler("spld", labels=y_train, batch_size=64, num_steps=2000)
    state = sampler.init()
    for r in range(sampler.num_rounds):
        wanted = sampler.needs(state, r)            # e.g. {"losses"}: compute those
        plan, state = sampler.plan(state, r, losses=...)
        ...                                         # plan.indices[i], plan.weights[i]

The project's own loop drives the same samplers (docs/design.md §9). A round is
``steps_per_round`` = ceil(N / batch) updates; everything random is a pure
function of (seed, round), so a loop that replays rounds gets the same plans.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import ml_collections
import numpy as np

from lgl_spl.core.loss_transform import LossTransform
from lgl_spl.errors import ConfigError
from lgl_spl.samplers.base import SIGNAL_NAMES, RoundPlan, Signals, StepSelector, Trained
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method
from lgl_spl.samplers.registry import get_method, make_sampler, method_code, register_method
from lgl_spl.settings import check_block
from lgl_spl.timing import PhaseTimer


class FunctionalSampler:
    """One method's sampler with its settings and the run's sizes; its state is yours.

    ``init()`` gives the initial state; each round, ``needs(state, r)`` names the
    signals to compute (``losses``, ``features``, ``class_entropies`` — or the
    ``logits`` they come from —, and for ``advise`` the embedding's ``groups``)
    and ``plan(state, r, **signals)`` returns the round's :class:`RoundPlan` and
    the new state. A plan lacking a needed signal raises ``SignalError``.

    A step-level method (``online_hard``, ``rho_loss``, …) has a :attr:`step_selector`:
    its plans' rows are each step's *candidates* (``plan.keep`` says how many a step
    trains on), to be narrowed inside your step by ``lgl_spl.select_candidates`` with
    the selector's ``select`` (docs/design.md §9).
    """

    def __init__(self, name: str, settings, context: SamplerContext, sampler):
        self.name = name
        self.settings = settings  # the method block, validated and locked
        self.context = context
        self.sampler = sampler  # held to the protocol (samplers/checked.py)
        self.method = get_method(settings.name)
        # Methods with an embedding learner (advise) take its cluster ids as `groups`.
        self.embedding = "embedding" in self.method.auxiliary

    @property
    def step_selector(self) -> StepSelector | None:
        """The method's step-level selector (None: each plan row is a step's batch)."""
        return getattr(self.sampler, "step_selector", None)

    @functools.cached_property
    def loss_transform(self) -> LossTransform | None:
        """The method's per-example loss transform (``superloss``'s; None: plain
        cross-entropy), built once, so a step taking it as a static argument compiles once:
        ``init(N, C)`` its state, ``apply(state, losses, LossBatch(labels, logits, indices,
        weights)) -> (losses, state)`` inside your step."""
        make = self.method.loss_transform
        return None if make is None else method_code(self.method, make, self.settings, self.context)

    @property
    def loss_mean(self) -> str:
        """How your step averages the weighted losses: ``"weights"`` (Σ w·ℓ / Σ w) or
        ``"examples"`` (Σ w·ℓ / the examples of weight > 0: ``infobatch``'s rescaling)."""
        return self.method.loss_mean

    @property
    def step_signals(self) -> bool:
        """The method plans from what your steps trained on: hand ``plan`` the previous
        round's ``trained=`` (indices, per-example training losses, correct, weights)."""
        return bool(self.method.step_signals)

    @property
    def plan_width(self) -> int:
        """The examples each step is handed: the batch, or a selector's candidates."""
        selector = self.step_selector
        return self.batch_size if selector is None else int(selector.candidates)

    @property
    def num_examples(self) -> int:
        return self.context.num_examples

    @property
    def num_classes(self) -> int:
        return self.context.num_classes

    @property
    def labels(self) -> np.ndarray:
        return self.context.labels

    @property
    def seed(self) -> int:
        return self.context.seed

    @property
    def batch_size(self) -> int:
        return self.context.batch_size

    @property
    def num_steps(self) -> int:
        return self.context.num_steps

    @property
    def steps_per_round(self) -> int:
        return self.context.steps_per_round

    @property
    def num_rounds(self) -> int:
        return self.context.num_rounds

    def round_of(self, step: int) -> int:
        """The round that update ``step`` (0-based) belongs to."""
        return step // self.steps_per_round

    def init(self) -> Any:
        """The initial state (a pytree of numpy arrays; save it with your checkpoints)."""
        return self.sampler.init()

    def needs(self, state, round_index: int) -> frozenset[str]:
        """The signals round ``round_index`` needs (empty: plan it without any)."""
        wanted = set(self.sampler.needs_signals(state, round_index))
        if self.embedding:
            wanted.add("groups")
        return frozenset(wanted)

    def plan(
        self, state, round_index: int, signals: Signals | Mapping | None = None, **arrays
    ) -> tuple[RoundPlan, Any]:
        """The plan of round ``round_index`` and the new state.

        Signals come as a :class:`Signals`, a mapping, or keywords (``losses=…``);
        ``labels`` default to the sampler's. Arrays may be numpy or jax.
        """
        fields = dict(signals._asdict() if isinstance(signals, Signals) else (signals or {}))
        fields.update(arrays)
        unknown = sorted(set(fields) - set(SIGNAL_NAMES) - {"labels", "trained"})
        if unknown:
            raise ConfigError(
                f"unknown signals {', '.join(unknown)}; a sampler reads {', '.join(SIGNAL_NAMES)}"
                " (and, with step signals, trained)"
            )
        trained = fields.pop("trained", None)
        host = {k: None if v is None else np.asarray(v) for k, v in fields.items()}
        host.setdefault("labels", self.labels)
        if trained is not None:  # what your steps trained on: a Trained, or its four arrays
            parts = trained._asdict() if hasattr(trained, "_asdict") else dict(trained)
            host["trained"] = Trained(**{k: np.asarray(parts[k]) for k in Trained._fields})
        given = Signals(**{k: host.get(k) for k in Signals._fields})
        empty = all(getattr(given, k) is None for k in (*SIGNAL_NAMES, "trained"))
        return self.sampler.plan_round(state, round_index, None if empty else given)

    def __repr__(self) -> str:
        return (
            f"FunctionalSampler({self.name!r}, {self.num_examples} examples, "
            f"{self.num_classes} classes, {self.num_rounds} rounds of {self.steps_per_round})"
        )


def method_settings(method: str | Method | Mapping, **settings) -> ml_collections.ConfigDict:
    """A validated, locked method block: ``method``'s defaults, then ``settings``.

    ``method`` is a name, an import path, a :class:`Method` (registered by its name) or a
    mapping with a ``name`` (e.g. a config's ``method`` block).
    """
    if isinstance(method, Method):
        method = register_method(method).name
    if hasattr(method, "to_dict"):  # a ConfigDict
        block = method.to_dict()
    elif isinstance(method, Mapping):
        block = dict(method)
    else:
        block = {"name": method}
    if "name" not in block:
        raise ConfigError("the method block has no 'name'")
    spec = get_method(block["name"])
    block = {"name": block["name"], **spec.defaults(), **block, **settings}
    check_block("method", block, spec.fields, owner=f"method {spec.name!r}")
    cfg = ml_collections.ConfigDict(block)
    cfg.lock()
    return cfg


def check_labels(labels, num_classes: int | None) -> tuple[np.ndarray, int]:
    """Labels as int32 [N] in [0, num_classes) (num_classes defaults to max + 1)."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(
            f"labels must be a non-empty 1-D integer array, got {y.dtype} {list(y.shape)}"
        )
    c = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if y.min() < 0 or y.max() >= c:
        raise ConfigError(f"labels must lie in [0, {c}), got [{int(y.min())}, {int(y.max())}]")
    return y.astype(np.int32), c


def build_sampler(
    method: str | Method | Mapping,
    *,
    labels,
    batch_size: int,
    num_steps: int,
    seed: int = 0,
    num_classes: int | None = None,
    x_train=None,
    **settings,
) -> FunctionalSampler:
    """The sampler of ``method`` for a training set with ``labels``, over ``num_steps`` updates.

    Args:
      method: a method's name (``random``, ``spl``, … ``rho_loss``, or one registered
        with :func:`lgl_spl.register_method`), an import path ``package.module:ATTR``,
        a :class:`~lgl_spl.samplers.method.Method`, or a method block (a ConfigDict or
        dict with a ``name``).
      labels: [N] integer training labels.
      batch_size: examples per update; a round is ceil(N / batch_size) updates.
      num_steps: the run's updates in all (LGL splits its rounds into stages).
      seed: every plan is a pure function of (seed, round).
      num_classes: defaults to ``max(labels) + 1``.
      x_train: [N, ...] images; only ``spld`` with ``groups="pixels"`` reads them.
      **settings: the method's settings (``docs/design.md`` §3), e.g. ``q0=0.4``.

    Example:
      >>> s = build_sampler("spl", labels=np.arange(10) % 2, batch_size=4, num_steps=9)
      >>> s.steps_per_round, s.num_rounds, sorted(s.needs(s.init(), 1))
      (3, 3, ['losses'])
    """
    cfg = method_settings(method, **settings)
    y, c = check_labels(labels, num_classes)
    for key, value in (("batch_size", batch_size), ("num_steps", num_steps), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ConfigError(f"{key} must be a non-negative integer, got {value!r}")
    if batch_size < 1 or num_steps < 1:
        raise ConfigError("batch_size and num_steps must be positive")
    if cfg.name == "spld" and cfg.groups == "pixels" and x_train is None:
        raise ConfigError("spld with groups='pixels' clusters the images: pass x_train")
    if x_train is not None and len(x_train) != len(y):
        raise ConfigError(f"x_train has {len(x_train)} examples but labels has {len(y)}")
    ctx = SamplerContext(
        num_examples=len(y),
        num_classes=c,
        batch_size=int(batch_size),
        seed=int(seed),
        num_steps=int(num_steps),
        labels=y,
        x_train=None if x_train is None else np.asarray(x_train),
        timer=PhaseTimer(),
    )
    sampler = make_sampler(cfg, ctx)
    return FunctionalSampler(get_method(cfg.name).name, cfg, ctx, sampler)
