"""A method, declared once beside its sampler: ``Method`` (docs/design.md, "Writing a method").

Every method, the package's own and a user's, is a :class:`Method`: its name, the function
that builds its sampler, its settings, and what the loop runs beside it. The package's own
are declared in their sampler modules (``METHODS``) and collected by
:mod:`lgl_spl.samplers.registry`; a user's is named by import path
(``method.name=package.module:ATTR``) or registered with :func:`register_method`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from lgl_spl.settings import Field, defaults


@dataclasses.dataclass(frozen=True)
class Method:
    """What a method is, for the program, the own-loop API, the tests and the report.

    Attributes:
      name: the name configs and reports use (no ``:``; a method named by import path
        is reported by this name).
      build: ``(method_cfg, SamplerContext) -> sampler`` with ``init()``,
        ``needs_signals(state, r)`` and ``plan_round(state, r, signals)``
        (:class:`lgl_spl.samplers.base.Sampler`). ``method_cfg`` holds every setting
        of ``fields`` (and ``name``).
      fields: the settings, made with ``integer``, ``number``, ``choice``, ``flag``,
        ``text`` (:mod:`lgl_spl.settings`): defaults, meaning, allowed values.
      doc: one line on what the method does.
      auxiliary: learners the loop trains beside the student: a name (``"embedding"``:
        SPL-ADVisE's; ``"irreducible"``: RHO-LOSS's), or a function ``(config, parts) ->
        learner`` building one on the protocol of ``lgl_spl.train.auxiliary`` (``parts``:
        ``context``, ``mesh``, ``dataset``, ``train_feed``, ``test_feed``), or that
        function's import path ``package.module:function`` (``prune``'s scoring runs).
      step_selector: ``(method_cfg, SamplerContext) -> StepSelector``: the plan hands
        each step candidates and the step keeps some of them; None: the step trains on
        its whole row.
      derive: ``(method_cfg, train_cfg, *, baseline, num_classes, num_train) -> None``:
        settings derived from the run's length once the data are loaded (in place);
        ``baseline`` is the run's steps, ``num_train`` the training examples.
      tiny: the settings of the tests' tiny runs (320 digits, batch 32, 60 steps:
        ``tests/reliability/tiny.py``), where the defaults do not fit them.
      step_signals: the sampler gets ``signals.trained`` every round after the first: the
        examples the previous round's steps trained on, with their training losses and
        whether they were predicted right, in order (no extra forward pass).
      short_rounds: the sampler may plan fewer steps than a full round (⌈N / batch⌉):
        the run is then its rounds, not its steps (dynamic pruning saves updates so).
      loss_transform: ``(method_cfg, SamplerContext) -> LossTransform``: a per-example
        loss transform inside the train step, with its state in the train state.
      loss_mean: how a step averages its weighted per-example losses: ``"weights"`` (Σ w·ℓ
        / Σ w, the default: weights say how much of the batch each example is) or
        ``"examples"`` (Σ w·ℓ / the examples of weight > 0: weights rescale losses, as
        InfoBatch's 1 / (1 − r) does).
    """

    name: str
    build: Callable
    fields: Mapping[str, Field] = dataclasses.field(default_factory=dict)
    doc: str = ""
    auxiliary: tuple[str, ...] = ()
    step_selector: Callable | None = None
    derive: Callable | None = None
    tiny: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    step_signals: bool = False
    short_rounds: bool = False
    loss_transform: Callable | None = None
    loss_mean: str = "weights"

    def defaults(self) -> dict:
        """``{setting: default}``."""
        return defaults(self.fields)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or ":" in self.name:
            raise ValueError(
                f"a method's name is a non-empty string without ':', got {self.name!r}"
            )
        if not callable(self.build):
            raise TypeError(f"method {self.name!r}: build must be callable, got {self.build!r}")
        if self.loss_mean not in ("weights", "examples"):
            raise ValueError(f"method {self.name!r}: loss_mean is 'weights' or 'examples'")
        unknown = set(self.tiny) - set(self.fields)
        if unknown:
            raise ValueError(f"method {self.name!r}: tiny names no setting {sorted(unknown)}")
