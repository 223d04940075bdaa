"""Auxiliary learners: networks a method trains beside the student (docs/design.md §1).

A method names the auxiliary learners it needs (``Method.auxiliary``): the package's
by name (:data:`BUILDERS`), any other by the function that builds it, ``(config, parts)
-> learner`` or its import path ``package.module:function`` (static pruning's scoring runs
are named so, as a user's would be). The loop
drives every one through the same protocol, so neither branches on a particular learner.

Each learner's state is one item of the checkpoint tree, under its ``name``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from lgl_spl.import_path import is_import_path, load
from lgl_spl.samplers import Signals
from lgl_spl.train import console
from lgl_spl.train.embedding import EmbeddingLearner
from lgl_spl.train.irreducible import IrreducibleLoss, carve_holdout


class AuxiliaryLearner(Protocol):
    name: str  # its item in the checkpoint tree
    outputs: tuple[str, ...]  # what it writes in the workdir (for the closing summary)
    # Optional: the signals it fills (never asked of the scoring pass), e.g. ("scores",);
    # ``files(state) -> {file name: {array name: array}}``, .npz files written in the
    # workdir once a process has them (static pruning's scores.npz); and
    # ``console(row) -> str | None``, its clause of an evaluation's console line.

    def init(self) -> Any:
        """The state pytree before the first round."""

    def advance(self, state: Any, round_index: int) -> tuple[Any, dict]:
        """Train what is owed before ``round_index`` is planned: the new state and the facts
        to log (``rounds.jsonl``, ``metrics.jsonl``)."""

    def signals(self, state: Any, signals: Signals | None, labels: np.ndarray) -> Signals | None:
        """``signals`` with what this learner hands the sampler (``None``: none were scored)."""

    def step_inputs(self, state: Any) -> dict[str, np.ndarray]:
        """Per-example arrays [N] handed to every train step of a step-level selector, which
        reads them at the candidates' indices (``{}``: none)."""

    def forward_passes(self, state: Any) -> int:
        """Forward passes spent so far outside student training (counted in
        ``extra_forward_passes``)."""

    def evaluation(self, state: Any) -> dict:
        """Diagnostics for an evaluation row (``{}``: none)."""

    def snapshot(self, state: Any) -> dict | None:
        """Arrays saved at each evaluation (``None``: nothing)."""


class EmbeddingAuxiliary:
    """SPL-ADVisE's embedding learner on the protocol: its cluster ids are the sampler's groups."""

    name = "embedding"
    outputs = ("embeddings/",)

    def __init__(self, learner: EmbeddingLearner):
        self.learner = learner

    def init(self):
        return self.learner.init()

    def advance(self, state, round_index: int):
        return self.learner.advance(state, round_index)

    def signals(self, state, signals, labels):
        signals = signals or Signals(None, None, None, np.asarray(labels, np.int32))
        return signals._replace(groups=self.learner.cluster_ids(state))

    def step_inputs(self, state) -> dict:
        return {}

    def forward_passes(self, state) -> int:
        return int(state["embed_forward"])

    def evaluation(self, state) -> dict:
        if self.learner.heldout is None:
            return {}
        return {
            "embed_knn_accuracy": self.learner.knn_accuracy(state),
            "pixel_knn_accuracy": self.learner.pixel_knn_accuracy(),
        }

    def snapshot(self, state):
        return self.learner.snapshot(state)

    def console(self, row: dict) -> str | None:
        accuracy = row.get("embed_knn_accuracy")
        return None if accuracy is None else f"embedding 10-NN {console.percent(accuracy)}"


def _embedding(config, parts: dict) -> EmbeddingAuxiliary:
    ctx = parts["context"]
    return EmbeddingAuxiliary(
        EmbeddingLearner(
            config.method,
            dataset_name=config.data.name,
            feed=parts["train_feed"],
            labels=ctx.labels,
            num_classes=ctx.num_classes,
            seed=ctx.seed,
            steps_per_round=ctx.steps_per_round,
            mesh=parts["mesh"],
            timer=ctx.timer,
            heldout=parts["test_feed"],
            compute_dtype=config.train.compute_dtype,
        )
    )


def _irreducible(config, parts: dict) -> IrreducibleLoss:
    ctx = parts["context"]
    return IrreducibleLoss.from_config(
        config,
        x_train=parts["dataset"].x_train,
        y_train=ctx.labels,
        num_classes=ctx.num_classes,
        holdout=parts["data"].get("irreducible"),
        mesh=parts["mesh"],
        timer=ctx.timer,
    )


# name -> (resolved config, the experiment's parts) -> learner
BUILDERS: dict[str, Callable[[Any, dict], AuxiliaryLearner]] = {
    "embedding": _embedding,
    "irreducible": _irreducible,
}

# name -> (config, dataset) -> (the student's dataset, the learner's own data or None):
# data a learner takes from the training set before anything is sized by it.
CARVERS: dict[str, Callable] = {"irreducible": carve_holdout}


def carve_data(names, config, dataset):
    """The student's dataset once the learners named ``names`` have taken their data, and
    ``{name: what each took}``."""
    taken = {}
    for name in names:
        if not callable(name) and name in CARVERS:
            dataset, taken[name] = CARVERS[name](config, dataset)
    return dataset, taken


def builder(name) -> Callable[[Any, dict], AuxiliaryLearner]:
    """What builds the learner ``name`` names: a function, a name of :data:`BUILDERS`, or an
    import path ``package.module:function`` (a method module that must not import the
    training side names its learner so, as ``prune`` does)."""
    if callable(name):
        return name
    if is_import_path(name):
        return load(name, key="Method.auxiliary", attr_name="function")
    return BUILDERS[name]


def build_auxiliaries(names, config, parts: dict) -> tuple[AuxiliaryLearner, ...]:
    """The learners ``names`` lists (:func:`builder`)."""
    return tuple(builder(name)(config, parts) for name in names)


def provided(learners) -> frozenset[str]:
    """The signals ``learners`` fill themselves."""
    return frozenset(s for aux in learners for s in getattr(aux, "provides", ()))
