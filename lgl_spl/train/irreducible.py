"""RHO-LOSS's irreducible-loss (IL) model, an auxiliary learner (docs/design.md §1, §4).

Before the first round the IL model (``method.il_model``, the student's architecture by
default) trains on data the student does not see — a holdout carved from the training
set like the validation split (``method.holdout_fraction``; the data's label noise
applies to it unless ``method.clean_holdout``), or, with ``il_data = "halves"`` (the
paper's ablation without a holdout), two models each on one half of the training set,
each scoring the other half — and then computes its per-example loss on every
training example once. Those losses are this learner's state: saved in the run's
checkpoint, so a resumed run never trains the IL model again, and handed to every
train step as the replicated per-example array ``irreducible_loss``.

Its training (forward + backward per example) and the pass over the training set are
counted as extra compute (``il_forward_passes``, ``il_backward_passes``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lgl_spl import data as data_lib
from lgl_spl import models, parallel
from lgl_spl.core.step_selection import IRREDUCIBLE
from lgl_spl.errors import ConfigError
from lgl_spl.samplers import Signals, fill_round, round_rng
from lgl_spl.train.evaluator import Evaluator
from lgl_spl.train.feeding import DeviceFeeder
from lgl_spl.train.state import create_train_state, make_optimizer
from lgl_spl.train.steps import make_steps
from lgl_spl.util import ceil_div

_STREAM = 41  # the IL model's plans: round_rng(seed, epoch, _STREAM + part)


def carve_holdout(config, dataset: data_lib.Dataset):
    """``(the student's dataset, the holdout (x, y))``: the first ``holdout_fraction`` of the
    training data (already a seeded shuffle), as the validation split is carved.

    ``il_data = "halves"`` carves nothing (``None``).
    """
    m = config.method
    if dataset.train_source is not None:
        raise ConfigError(
            f"method {m.name!r} needs an in-memory dataset (its irreducible losses are read by "
            "example index inside the step); this dataset is streamed from disk"
        )
    if m.il_data != "holdout":
        return dataset, None
    n = dataset.num_train
    size = int(round(float(m.holdout_fraction) * n))
    labels = dataset.y_train if dataset.y_train_clean is None else dataset.y_train_clean
    y_hold = labels[:size] if bool(m.clean_holdout) else dataset.y_train[:size]
    missing = np.flatnonzero(np.bincount(y_hold, minlength=dataset.num_classes) == 0)
    if missing.size:
        raise ConfigError(
            f"method.holdout_fraction {float(m.holdout_fraction):g} carves a holdout of "
            f"{size} examples with no example of class(es) {missing.tolist()}: the "
            "irreducible-loss model needs every class (raise method.holdout_fraction)"
        )
    if size >= n:
        raise ConfigError(f"method.holdout_fraction leaves no training examples ({n})")
    rest = dataclasses.replace(
        dataset,
        x_train=dataset.x_train[size:],
        y_train=dataset.y_train[size:],
        y_train_clean=None if dataset.y_train_clean is None else dataset.y_train_clean[size:],
    )
    return rest, (dataset.x_train[:size], np.asarray(y_hold, np.int32))


class IrreducibleLoss:
    """The IL model on the auxiliary-learner protocol (``lgl_spl.train.auxiliary``)."""

    name = "irreducible"
    outputs = ()

    def __init__(self, config, *, x_train, y_train, num_classes, holdout, mesh, timer):
        m, t = config.method, config.train
        self.config = config
        self.x_train = np.asarray(x_train)
        self.y_train = np.asarray(y_train, np.int32)
        self.holdout = holdout
        self.mesh = mesh
        self.timer = timer
        self.seed = int(config.seed)
        self.batch = int(t.batch_size)
        self.epochs = int(m.il_epochs)
        self.num_classes = int(num_classes)
        self.model = models.get_model(
            m.il_model or config.model.name,
            num_classes=self.num_classes,
            width=float(config.model.width),
            compute_dtype=t.compute_dtype,
            **(dict(config.model.kwargs) if not m.il_model else {}),
        )
        self.tx = make_optimizer(t)
        # A constant rate: the student's schedule is laid out over the student's run.
        schedule = optax.constant_schedule(float(t.learning_rate))
        self.spec = data_lib.default_augment(config.data.name, config.data.augment)
        self.steps = make_steps(self.model, self.tx, schedule, self.spec, mesh)
        # Its pass over the training set is timed as "scoring" (phases are exclusive), its
        # training as "irreducible".
        self.evaluator = Evaluator(
            self.steps, mesh, eval_batch_size=int(t.eval_batch_size), timer=timer
        )

    # ---- the protocol ----------------------------------------------------------------

    def init(self) -> dict:
        return {
            "losses": np.zeros(len(self.y_train), np.float32),
            "forward": np.int64(0),
            "backward": np.int64(0),
            "done": np.int64(0),
        }

    def advance(self, state, round_index: int):
        del round_index
        if not int(state["done"]):
            state = self._compute()
        return state, self._facts(state)

    def signals(self, state, signals, labels):
        del state, labels
        return signals

    def step_inputs(self, state) -> dict:
        return {IRREDUCIBLE: np.asarray(state["losses"], np.float32)}

    def forward_passes(self, state) -> int:
        return int(state["forward"])

    def evaluation(self, state) -> dict:
        return {}

    def snapshot(self, state):
        return None

    # ---- the work ----------------------------------------------------------------------

    def _parts(self):
        """``(x, y of what a model trains on, the training indices it scores)`` per model."""
        n = len(self.y_train)
        if self.holdout is not None:
            return [(*self.holdout, np.arange(n))]
        order = round_rng(self.seed, 0, _STREAM - 1).permutation(n)
        a, b = np.sort(order[: n // 2]), np.sort(order[n // 2 :])
        return [
            (self.x_train[a], self.y_train[a], b),
            (self.x_train[b], self.y_train[b], a),
        ]

    def _compute(self) -> dict:
        losses = np.zeros(len(self.y_train), np.float32)
        forward = backward = 0
        with self.timer.timed("irreducible"):
            for part, (x, y, scored) in enumerate(self._parts()):
                state, trained = self._train(x, y, part)
                feed = DeviceFeeder(self.x_train[scored], self.y_train[scored], self.mesh)
                mask = np.ones(self.num_classes, bool)
                signals: Signals = self.evaluator.score(
                    state, feed, mask, self.y_train[scored], ("losses",)
                )
                losses[scored] = signals.losses
                forward += trained + len(scored)
                backward += trained
        return {
            "losses": losses,
            "forward": np.int64(forward),
            "backward": np.int64(backward),
            "done": np.int64(1),
        }

    def _train(self, x, y, part: int):
        """The IL model after ``il_epochs`` passes over ``(x, y)``; and the examples seen."""
        mesh = self.mesh
        feed = DeviceFeeder(x, y, mesh)
        key = jax.random.fold_in(jax.random.key(self.seed), 1000 + part)
        init_key, step_key = jax.random.split(key)
        sample = data_lib.augment(jax.random.key(0), jnp.asarray(x[:1]), self.spec, train=False)
        state = parallel.put_replicated(
            create_train_state(self.model, self.tx, init_key, sample), mesh
        )
        step_key = parallel.put_replicated(step_key, mesh)
        mask = parallel.put_replicated(np.ones(self.num_classes, bool), mesh)
        size, seen = len(y), 0
        steps = ceil_div(size, self.batch)
        for epoch in range(self.epochs):
            rng = round_rng(self.seed, epoch, _STREAM + part)
            rows, weights = fill_round(rng, np.arange(size), size, steps, self.batch)
            for row, w in zip(rows, weights, strict=True):
                state, _ = self.steps.train(
                    state, *feed.batch(row), parallel.put_batch(w, mesh), step_key,
                    jnp.float32(0), mask,
                )  # fmt: skip
                seen += int(w.sum())
        return state, seen

    def _facts(self, state) -> dict:
        return {
            "il_forward_passes": int(state["forward"]),
            "il_backward_passes": int(state["backward"]),
            "il_mean_loss": float(np.mean(state["losses"])),
        }
