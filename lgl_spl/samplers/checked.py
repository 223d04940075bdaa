"""Every sampler held to the protocol, so a method's mistake is one line naming it.

:class:`CheckedSampler` wraps the sampler a :class:`~lgl_spl.samplers.method.Method`
builds, for the program's loop and for ``build_sampler`` alike: a plan of the wrong
type or shape, indices outside the training set, weights that are negative or not
finite, or signals it cannot name stop the run at that round with a ``ConfigError``
naming the method; an exception raised inside a user's sampler is a ``UserCodeError``
(the package's own samplers raise theirs as they are).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lgl_spl.errors import ConfigError, UserCodeError
from lgl_spl.samplers.base import SIGNAL_NAMES, RoundPlan, Signals
from lgl_spl.samplers.method import Method


class CheckedSampler:
    """``sampler`` (of ``method``) whose plans must be ``[steps, width]`` over ``num_examples``."""

    def __init__(self, sampler, method: Method, *, steps: int, width: int, num_examples: int,
                 num_classes: int, own: bool):  # fmt: skip
        self.sampler, self.method = sampler, method
        self.steps, self.width = int(steps), int(width)
        self.num_examples, self.num_classes = int(num_examples), int(num_classes)
        self.own = own  # the package's own method: its errors are not the user's
        self.step_selector = None  # the method's StepSelector, when it has one
        self.keep = 0  # with a selector: the examples a step keeps of its candidates

    def __getattr__(self, name: str) -> Any:  # a sampler's other attributes (e.g. ``rule``)
        return getattr(self.sampler, name)

    def _call(self, fn, *args):
        if self.own:
            return fn(*args)
        try:
            return fn(*args)
        except (ConfigError, UserCodeError):
            raise
        except Exception as e:  # noqa: BLE001 - the user's sampler code
            raise UserCodeError(f"method {self.method.name!r}", e) from e

    def init(self) -> Any:
        return self._call(self.sampler.init)

    def needs_signals(self, state, round_index: int) -> frozenset[str]:
        wanted = self._call(self.sampler.needs_signals, state, round_index)
        try:
            wanted = frozenset(wanted or ())
        except TypeError:
            self._broken(round_index, f"needs_signals returned {wanted!r}, not a set of names")
        unknown = sorted(set(wanted) - set(SIGNAL_NAMES))
        if unknown:
            self._broken(
                round_index,
                f"needs_signals names {', '.join(map(repr, unknown))}; the signals are "
                f"{', '.join(SIGNAL_NAMES)}",
            )
        return wanted

    def plan_round(self, state, round_index: int, signals: Signals | None):
        out = self._call(self.sampler.plan_round, state, round_index, signals)
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], RoundPlan)):
            self._broken(round_index, f"plan_round must return (RoundPlan, state), got {out!r:.80}")
        plan, state = out
        self.check_plan(plan, round_index)
        if self.step_selector is not None:  # the rows are candidates: say so
            plan = dataclasses.replace(plan, keep=self.keep)
        return plan, state

    def check_plan(self, plan: RoundPlan, round_index: int) -> None:
        indices, weights = np.asarray(plan.indices), np.asarray(plan.weights)
        shape = (self.steps, self.width)
        if self.method.short_rounds and indices.ndim == 2 and 1 <= len(indices) <= self.steps:
            shape = (len(indices), self.width)  # a shorter round: fewer steps, same width
        for what, array in (("indices", indices), ("weights", weights)):
            if array.shape != shape:
                self._broken(
                    round_index,
                    f"its plan's {what} have shape {list(array.shape)}, the steps need "
                    f"{list(shape)} (steps of the round × the examples each step is handed)",
                )
        if not np.issubdtype(indices.dtype, np.integer):
            self._broken(round_index, f"its plan's indices are {indices.dtype}, not integers")
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_examples):
            self._broken(
                round_index,
                f"its plan's indices reach [{int(indices.min())}, {int(indices.max())}], outside "
                f"the training set [0, {self.num_examples})",
            )
        if not np.issubdtype(weights.dtype, np.number) or not np.all(np.isfinite(weights)):
            self._broken(round_index, "its plan's weights are not all finite numbers")
        if np.any(weights < 0):
            self._broken(round_index, "its plan's weights are negative somewhere")
        mask = np.asarray(plan.class_mask)
        if mask.shape != (self.num_classes,):
            self._broken(
                round_index,
                f"its plan's class_mask has shape {list(mask.shape)}, not [{self.num_classes}]",
            )

    def _broken(self, round_index: int, what: str):
        raise ConfigError(
            f"method {self.method.name!r} breaks the sampler protocol at round {round_index}: "
            f"{what}"
        )
