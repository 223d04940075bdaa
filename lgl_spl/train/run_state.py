"""Everything a run carries from step to step, and the one checkpoint tree built from it.

The same :meth:`RunState.tree` is saved and, filled with placeholders of the
right shapes, handed to orbax as the structure to restore into; so the saved
and the restored layouts can never drift apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lgl_spl.samplers import RoundPlan
from lgl_spl.samplers.base import Trained
from lgl_spl.train.state import TrainState
from lgl_spl.train.steps import STEP_SUMS


@dataclasses.dataclass
class Meters:
    """Running sums of the training loss since the last evaluation, log line and round,
    and the forward passes spent outside student training, counted where they happen:
    the scoring pass at a round's set-up and a step-level selector's candidates."""

    eval_sum: float = 0.0
    eval_weight: float = 0.0
    log_sum: float = 0.0
    log_weight: float = 0.0
    round_sum: float = 0.0
    round_weight: float = 0.0
    extra_forward: int = 0

    def add(self, loss: float, weight: float) -> None:
        self.eval_sum += loss * weight
        self.eval_weight += weight
        self.log_sum += loss * weight
        self.log_weight += weight
        self.round_sum += loss * weight
        self.round_weight += weight

    def add_step(self, metrics: dict) -> None:
        """One train step's metrics dict (read from the devices now)."""
        self.add(float(metrics["loss"]), float(metrics["weight"]))
        self.extra_forward += int(metrics.get("extra_forward", 0))

    def take(self, window: str) -> float | None:
        """The mean loss of ``window`` (eval, log or round), which then starts again."""
        total, weight = getattr(self, f"{window}_sum"), getattr(self, f"{window}_weight")
        setattr(self, f"{window}_sum", 0.0)
        setattr(self, f"{window}_weight", 0.0)
        return total / weight if weight else None

    def tree(self) -> dict:
        return {f.name: _as(f.type, np)(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_tree(cls, tree: dict) -> Meters:
        return cls(**{f.name: _as(f.type)(tree[f.name]) for f in dataclasses.fields(cls)})


def _as(kind: str, lib=None):
    """The Python (or, with ``lib=np``, 64-bit numpy) type of a field annotated ``kind``."""
    if lib is None:
        return int if kind == "int" else float
    return lib.int64 if kind == "int" else lib.float64


@dataclasses.dataclass
class TrainedBuffer:
    """What the steps of the current round trained on so far (step signals), in order:
    fixed-size host arrays (a round's steps × batch), so a checkpoint can hold them."""

    indices: np.ndarray
    losses: np.ndarray
    correct: np.ndarray
    weights: np.ndarray
    count: int = 0

    @classmethod
    def empty(cls, size: int) -> TrainedBuffer:
        return cls(
            np.zeros(size, np.int32), np.zeros(size, np.float32), np.zeros(size, bool),
            np.zeros(size, np.float32),
        )  # fmt: skip

    def add(self, metrics: dict) -> None:
        """One step's record (its metrics read from the devices)."""
        idx = np.asarray(metrics["trained_indices"])
        end = self.count + idx.size
        self.indices[self.count : end] = idx
        self.losses[self.count : end] = np.asarray(metrics["trained_losses"])
        self.correct[self.count : end] = np.asarray(metrics["trained_correct"])
        self.weights[self.count : end] = np.asarray(metrics["trained_weights"])
        self.count = end

    def take(self) -> Trained:
        """The round's record (copies), and the buffer starts again."""
        n = self.count
        out = Trained(
            *(a[:n].copy() for a in (self.indices, self.losses, self.correct, self.weights))
        )
        self.count = 0
        return out

    def tree(self) -> dict:
        return {"indices": self.indices, "losses": self.losses, "correct": self.correct,
                "weights": self.weights}  # fmt: skip


# The items of the checkpoint tree that are not auxiliary learners' states.
_FIXED = ("train", "sampler", "plan", "meters", "trained")


@dataclasses.dataclass
class RunState:
    train: TrainState
    sampler: Any  # the sampler's state pytree
    aux: dict[str, Any] = dataclasses.field(default_factory=dict)  # per auxiliary learner
    plan: RoundPlan | None = None  # the current round's plan
    round: int = -1
    meters: Meters = dataclasses.field(default_factory=Meters)
    # A step-level selector's sums over the round so far (the steps' metrics, summed on the
    # host in float64 when read); JSON-able, saved in the checkpoint's metadata.
    selection: dict = dataclasses.field(default_factory=dict)
    round_start: int = 0  # the step at which the current round began
    full_round: int = 0  # the steps of a full round, ⌈N / batch⌉ (0: not known)
    trained: TrainedBuffer | None = None  # step signals: the round's steps so far

    @property
    def round_end(self) -> int:
        """The step after the current round's last (its plan may be shorter than a full round)."""
        return self.round_start + int(self.plan.indices.shape[0])

    def add_trained(self, metrics: dict) -> None:
        if self.trained is not None and "trained_indices" in metrics:
            self.trained.add(metrics)

    def add_selection(self, metrics: dict) -> None:
        """Add one step's selection sums (a step without a selector has none)."""
        if "selected_per_class" not in metrics:
            return
        sums = self.selection
        for metric, total, kind in STEP_SUMS:
            if kind is list:
                value = np.asarray(metrics[metric]).astype(np.int64).tolist()
                old = sums.get(total) or [0] * len(value)
                sums[total] = [a + b for a, b in zip(old, value, strict=True)]
            else:
                sums[total] = sums.get(total, kind(0)) + kind(metrics[metric])

    def selection_facts(self, noisy: bool) -> dict:
        """The round's record of what a step-level selector trained on (``{}``: none):
        per-class counts, the flipped share among them (with label noise), and the mean
        eval-mode loss of the kept candidates beside that of all candidates scored."""
        sums = self.selection
        if not sums:
            return {}
        trained = sum(sums["per_class"])
        scored = sums["scored_selected"]
        facts = {
            "selected_per_class": list(sums["per_class"]),
            "selected_loss": sums["selected_loss"] / scored if scored else None,
            "candidate_loss": (
                sums["candidate_loss"] / sums["candidates"] if sums["candidates"] else None
            ),
        }
        if noisy:
            facts["noisy_selected_fraction"] = sums["selected_noisy"] / trained if trained else None
        return facts

    def tree(self) -> dict:
        """The checkpoint tree: each auxiliary learner's state is an item under its name.

        ``embedding`` is always present ({} without that learner): the layout of the
        checkpoints written before auxiliary learners had a protocol.
        """
        plan = self.plan
        indices, weights = plan.indices, plan.weights
        if self.full_round and len(indices) < self.full_round:  # a short round, stored full size
            pad = ((0, self.full_round - len(indices)), (0, 0))
            indices, weights = np.pad(indices, pad), np.pad(weights, pad)
        tree = {
            "train": self.train,
            "sampler": self.sampler,
            "embedding": {},
            **self.aux,
            "plan": {
                "indices": indices,
                "weights": weights,
                "class_mask": plan.class_mask,
            },
            "meters": self.meters.tree(),
        }
        if self.trained is not None:
            tree["trained"] = self.trained.tree()
        return tree

    def meta(self, step: int, fingerprint: dict) -> dict:
        """The JSON side of a checkpoint."""
        return {
            "step": step,
            "round": self.round,
            "schedule_start": int(self.plan.schedule_start),
            "schedule_scale": float(self.plan.schedule_scale),
            "info": self.plan.info,
            "selection": self.selection,
            "config": fingerprint,
            "round_start": self.round_start,
            "round_steps": int(self.plan.indices.shape[0]),
            **({"trained_count": self.trained.count} if self.trained is not None else {}),
        }

    def placeholder(self, steps_per_round: int, width: int, num_classes: int) -> RunState:
        """This state with a zero plan of the run's shapes (``width``: examples a step is
        handed, the batch or a step-level selector's candidates): the structure to
        restore into."""
        plan = RoundPlan(
            indices=np.zeros((steps_per_round, width), np.int32),
            weights=np.zeros((steps_per_round, width), np.float32),
            class_mask=np.zeros(num_classes, bool),
            schedule_start=0,
            info={},
        )
        return dataclasses.replace(self, plan=plan, meters=Meters())

    @classmethod
    def from_checkpoint(cls, tree: dict, meta: dict, *, full_round: int, trained_size: int = 0):
        """The state a checkpoint holds; ``full_round``: a round's steps, ⌈N / batch⌉
        (checkpoints made before rounds could be short did not record them)."""
        steps = int(meta.get("round_steps", full_round))
        plan = RoundPlan(
            indices=np.asarray(tree["plan"]["indices"])[:steps],
            weights=np.asarray(tree["plan"]["weights"])[:steps],
            class_mask=np.asarray(tree["plan"]["class_mask"]),
            schedule_start=int(meta["schedule_start"]),
            info=meta["info"],
            schedule_scale=float(meta["schedule_scale"]),
        )
        trained = None
        if trained_size:
            t = tree["trained"]
            trained = TrainedBuffer(
                *(np.array(t[k]) for k in ("indices", "losses", "correct", "weights")),
                count=int(meta.get("trained_count", 0)),
            )
        return cls(
            train=tree["train"],
            sampler=tree["sampler"],
            aux={k: v for k, v in tree.items() if k not in _FIXED and not _empty(v)},
            plan=plan,
            round=int(meta["round"]),
            meters=Meters.from_tree(tree["meters"]),
            selection=meta.get("selection") or {},
            round_start=int(meta.get("round_start", int(meta["round"]) * full_round)),
            full_round=full_round,
            trained=trained,
        )

    def schedule_step(self, step: int) -> float:
        """The step of the learning-rate schedule (LGL restarts and stretches it per stage).

        A round shorter than a full one (dynamic pruning) runs the schedule at the pace of a
        full round: the schedule follows the passes over the data, not the updates taken
        (so a run of shorter rounds ends its schedule where a full run does)."""
        steps, full = int(self.plan.indices.shape[0]), self.full_round
        if full and (steps < full or self.round_start != self.round * full):
            step = self.round * full + (step - self.round_start) * (full / steps)
        return (step - self.plan.schedule_start) * self.plan.schedule_scale


def _empty(item) -> bool:
    return isinstance(item, dict) and not item
