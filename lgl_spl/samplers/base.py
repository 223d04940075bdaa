"""The sampler interface: pure state machines that turn signals into index arrays.

A sampler never runs a network and never touches devices or files. Each round
(ceil(N / batch) student updates) the loop hands it the current state, the
round number and signals: the scoring pass's per-example outputs when it asked
for them, and the cluster ids of an embedding learner when the method has one.
It returns a ``RoundPlan`` and its new state. All randomness comes from
(seed, round), so a run resumed from a checkpoint replays the same plans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import numpy as np

from lgl_spl.errors import SignalError
from lgl_spl.util import ceil_div


class Trained(NamedTuple):
    """What the previous round's steps trained on, in order of presentation (host arrays):
    a method with ``step_signals`` gets it every round after the first, at no extra
    forward pass (the training step's own outputs, train mode)."""

    indices: np.ndarray  # [S] int32 training-set indices (an example may appear more than once)
    losses: np.ndarray  # [S] float32 training loss, before any loss transform
    correct: np.ndarray  # [S] bool: the train-mode prediction was the label
    weights: np.ndarray  # [S] float32 the step's weights; 0 marks padding


class SignalSpec(NamedTuple):
    """One signal a sampler can ask for: its shape in N (examples), C (classes) and F
    (feature width, any), and whether the scoring pass computes it (the others come from an
    auxiliary learner)."""

    name: str
    shape: tuple[str, ...]
    scored: bool

    @property
    def per_example(self) -> bool:
        return self.shape[:1] == ("N",)


# The signals, one line each: read by check_signals, the checked and functional samplers,
# the scoring pass (train/steps.py, train/evaluator.py) and lgl_spl.signals. A new scored
# signal also needs its computation in train/steps.py::score_step and
# lgl_spl/signals.py::compute_signals.
SIGNALS = (
    SignalSpec("losses", ("N",), scored=True),  # cross-entropy, eval mode
    SignalSpec("features", ("N", "F"), scored=True),  # the model's penultimate features
    SignalSpec("logits", ("N", "C"), scored=True),  # untrained LGL classes masked
    SignalSpec("class_entropies", ("C",), scored=True),  # LGL: summed on the devices
    SignalSpec("groups", ("N",), scored=False),  # SPL-ADVisE's embedding clusters
    SignalSpec("scores", ("N",), scored=False),  # static pruning's scores
)
SIGNAL_NAMES = tuple(s.name for s in SIGNALS)
SCORES = tuple(s.name for s in SIGNALS if s.scored)  # what a scoring pass can compute
PER_EXAMPLE = tuple(s.name for s in SIGNALS if s.scored and s.per_example)  # fetched [N, …]


class Signals(NamedTuple):
    """Per-example signals about the training set (host arrays).

    The scoring pass fills what the sampler asked for (``needs_signals``):
    ``losses``, ``features``, ``logits`` or LGL's ``class_entropies``; the rest
    are None. An embedding learner (SPL-ADVisE) fills ``groups``, static pruning's
    scoring runs ``scores``; a method with ``step_signals`` gets ``trained``.
    """

    losses: np.ndarray | None  # [N] float32
    logits: np.ndarray | None  # [N, C] float32 (untrained LGL classes masked)
    features: np.ndarray | None  # [N, F] float32
    labels: np.ndarray  # [N] int32
    groups: np.ndarray | None = None  # [N] int32 cluster ids (class * K + j)
    class_entropies: np.ndarray | None = None  # [C] H(T | X_i) over the trained classes
    trained: Trained | None = None  # the previous round's steps (step_signals)
    scores: np.ndarray | None = None  # [N] float32 an auxiliary learner's (pruning scores)

    @property
    def scored(self) -> bool:
        return self.losses is not None


@dataclasses.dataclass(frozen=True)
class RoundPlan:
    """What the student trains on for one round."""

    indices: np.ndarray  # [steps, batch] int32 into the training set
    weights: np.ndarray  # [steps, batch] float32; 0 marks padding or unselected
    class_mask: np.ndarray  # [C] bool: classes the student may predict (LGL)
    schedule_start: int  # the step at which the current LR schedule (re)started
    info: dict[str, Any]  # JSON-able facts for metrics.jsonl (selected_fraction, …)
    schedule_scale: float = 1.0  # schedule step = (step − schedule_start) × scale
    reinit_classes: np.ndarray | None = None  # [C] bool: head rows to re-initialise now (LGL)
    # With a step-level selector: each row holds a step's *candidates*, of which the step
    # trains on ``keep`` (the batch) that the method's selector picks; None: each row is
    # the step's batch itself.
    keep: int | None = None

    def schedule_step(self, step: int) -> float:
        """The learning-rate schedule's step at update ``step`` (LGL restarts it per stage)."""
        return (step - self.schedule_start) * self.schedule_scale


@dataclasses.dataclass(frozen=True)
class Proxy:
    """A smaller network that scores a step's candidates instead of the student (Coleman et
    al. 2020, "Selection via Proxy"), trained beside it on the batches the student trains
    on, with the student's optimiser and learning rate (docs/design.md §2).

    ``model`` is a model name (empty: the student's architecture, its keyword arguments
    too); ``width`` multiplies the student's ``model.width``.
    """

    model: str = ""
    width: float = 0.25

    def __post_init__(self):
        if not isinstance(self.model, str):
            raise TypeError(f"Proxy.model is a model name, got {self.model!r}")
        if not float(self.width) > 0:
            raise ValueError(f"Proxy.width must be positive, got {self.width!r}")


@dataclasses.dataclass(frozen=True)
class StepSelector:
    """A step-level selector and the candidates a step scores (docs/design.md §2).

    With one, a method's plans are ``[steps, candidates]`` wide; the train step scores
    each row in eval mode and updates on the batch ``select`` picks from it
    (``lgl_spl.core.step_selection``).
    """

    select: Callable  # (Candidates, k) -> [k] int32 positions; pure and jittable
    candidates: int  # per step, ≥ the batch size
    # Steps (the train state's step) before which nothing is scored and the row's first
    # ``batch`` candidates are trained on: a warm-up on uniform batches.
    warmup_steps: int = 0
    # Who scores the candidates: the student (None) or a proxy trained beside it.
    proxy: Proxy | None = None


class Sampler(Protocol):
    def init(self) -> Any:
        """The initial state pytree."""

    def needs_signals(self, state: Any, round_index: int) -> frozenset[str]:
        """What the scoring pass must compute before ``plan_round`` (empty: no pass).

        Any of ``losses``, ``features``, ``logits``, ``class_entropies``.
        """

    def plan_round(
        self, state: Any, round_index: int, signals: Signals | None
    ) -> tuple[RoundPlan, Any]:
        """The plan for ``round_index`` and the new state."""


def round_rng(seed: int, round_index: int, stream: int = 0) -> np.random.Generator:
    """The generator of one round: a pure function of (seed, round, stream)."""
    return np.random.default_rng([seed, round_index, stream])


def stream_key(seed: int, index: int, stream: int) -> jax.Array:
    """A JAX key that is a pure function of (seed, index, stream), like :func:`round_rng`."""
    return jax.random.key(int(round_rng(seed, index, stream).integers(2**31)))


def fill_round(
    rng: np.random.Generator, subset: np.ndarray, num_examples: int, steps: int, batch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lay ``num_examples`` draws from ``subset`` into ``steps`` batches.

    The subset is cycled through, reshuffled on every pass, so every method
    processes the same number of examples per round whatever it selected.
    The slots after ``num_examples`` are padding (weight 0) filled with real
    examples, so BatchNorm statistics never see placeholder images.
    """
    subset = np.asarray(subset, np.int32)
    if subset.size == 0:
        raise ValueError("fill_round: the selected subset is empty")
    total = steps * batch
    passes = ceil_div(total, subset.size)
    order = np.concatenate([rng.permutation(subset) for _ in range(passes)])[:total]
    weights = (np.arange(total) < num_examples).astype(np.float32)
    return order.reshape(steps, batch), weights.reshape(steps, batch)


_SHAPES = {s.name: s.shape for s in SIGNALS}


def check_signals(
    signals: Signals | None, wanted, *, num_examples: int, num_classes: int, what: str
) -> None:
    """Refuse, in one line, signals that lack what ``wanted`` names or have the wrong shape.

    ``class_entropies`` may be replaced by the ``logits`` they are computed from.
    ``what`` names the sampler and round in the message.
    """
    if not wanted:
        return
    missing = []
    for name in sorted(wanted):
        value = None if signals is None else getattr(signals, name)
        if value is None and name == "class_entropies" and signals is not None:
            name, value = "logits", signals.logits
        if value is None:
            missing.append(name)
            continue
        sizes = {"N": num_examples, "C": num_classes, "F": None}
        expected = tuple(sizes[d] for d in _SHAPES[name])
        shape = np.shape(value)
        if len(shape) != len(expected) or any(
            e is not None and s != e for s, e in zip(shape, expected, strict=True)
        ):
            want = "[" + ", ".join("F" if e is None else str(e) for e in expected) + "]"
            raise SignalError(f"{what}: signal {name!r} must have shape {want}, got {list(shape)}")
    if missing:
        raise SignalError(
            f"{what} needs the signals {', '.join(missing)}, which were not given "
            "(ask the sampler what a round needs before planning it)"
        )
