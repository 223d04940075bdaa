"""RHO-LOSS's irreducible-loss (IL) model, an auxiliary learner (docs/design.md §1, §4).

Before the first round the IL model (``method.il_model``, the student's architecture by
default) trains on data it does not score: with ``il_data = "halves"`` (the default, as
the paper's code does for datasets without a holdout) two models, each on one half of the
training set, each scoring the other half; with ``"holdout"`` one model on a holdout carved
from the training set like the validation split (``method.holdout_fraction``; the data's
label noise applies to it unless ``method.clean_holdout``), which the student then never
sees. It computes its per-example loss on every training example once. Those losses are
this learner's state: saved in the run's checkpoint, so a resumed run never trains the IL
model again, and handed to every train step as the replicated per-example array
``irreducible_loss``.

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
from lgl_spl.train.from_arrays import learner_inputs
from lgl_spl.train.state import create_train_state, make_optimizer
from lgl_spl.train.steps import StepBatch, make_steps
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
        if bool(m.clean_holdout):
            raise ConfigError(
                "method.clean_holdout applies to a holdout, but method.il_data is "
                f"{m.il_data!r} (the default): add --config.method.il_data=holdout"
            )
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

    def __init__(
        self, *, model, train, spec, epochs: int, seed: int, x_train, y_train, num_classes,
        holdout, mesh, timer,
    ):  # fmt: skip
        """``model`` (a Linen module giving (logits, features)) trained ``epochs`` passes with
        the optimiser of ``train`` (a train block: optimizer, learning_rate, batch_size, …)
        at a constant rate, on ``holdout`` (x, y), or on two halves of the training data
        when it is None; ``spec``: the images' normalisation and augmentation."""
        self.x_train = np.asarray(x_train)
        self.y_train = np.asarray(y_train, np.int32)
        self.holdout = holdout
        self.mesh = mesh
        self.timer = timer
        self.seed = int(seed)
        self.batch = int(train.batch_size)
        self.epochs = int(epochs)
        self.num_classes = int(num_classes)
        self.model = model
        self.tx = make_optimizer(train)
        # A constant rate: the student's schedule is laid out over the student's run.
        schedule = optax.constant_schedule(float(train.learning_rate))
        self.spec = spec
        self.steps = make_steps(self.model, self.tx, schedule, self.spec, mesh)
        # Its pass over the training set is timed as "scoring" (phases are exclusive), its
        # training as "irreducible".
        self.evaluator = Evaluator(
            self.steps, mesh, eval_batch_size=int(train.eval_batch_size), timer=timer
        )

    @classmethod
    def from_config(cls, config, **parts) -> IrreducibleLoss:
        """The program's IL model: ``method.il_model`` (else the student's architecture) with
        the student's optimiser, batch and augmentation."""
        m, t = config.method, config.train
        model = models.get_model(
            m.il_model or config.model.name,
            num_classes=int(parts["num_classes"]),
            width=float(config.model.width),
            compute_dtype=t.compute_dtype,
            **(dict(config.model.kwargs) if not m.il_model else {}),
        )
        spec = data_lib.default_augment(config.data.name, config.data.augment)
        return cls(
            model=model, train=t, spec=spec, epochs=int(m.il_epochs), seed=int(config.seed),
            **parts,
        )  # fmt: skip

    def compute(self) -> tuple[np.ndarray, dict]:
        """Train the IL model(s) and score every training example: ``(losses [N], facts)``
        (for a loop of one's own; the program goes through the learner protocol)."""
        state, facts = self.advance(self.init(), 0)
        return np.asarray(state["losses"]), facts

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
                    state, StepBatch(*feed.batch(row), parallel.put_batch(w, mesh)), step_key,
                    jnp.float32(0), mask, {},
                )  # fmt: skip
                seen += int(w.sum())
        return state, seen

    def _facts(self, state) -> dict:
        return {
            "il_forward_passes": int(state["forward"]),
            "il_backward_passes": int(state["backward"]),
            "il_mean_loss": float(np.mean(state["losses"])),
        }


def split_holdout(x_train, y_train, fraction: float):
    """``((x, y) the student trains on, (x, y) the holdout)``: the first ``fraction`` of the
    data is the holdout, as the program carves it (shuffle the data first if it is ordered)."""
    x, y = np.asarray(x_train), np.asarray(y_train, np.int32)
    if len(x) != len(y):
        raise ConfigError(f"x_train has {len(x)} examples but labels has {len(y)}")
    size = int(round(float(fraction) * len(y)))
    if not 0 < size < len(y):
        raise ConfigError(f"a holdout fraction of {fraction} leaves no holdout or no training data")
    return (x[size:], y[size:]), (x[:size], y[:size])


def build_irreducible_loss(
    x_train,
    labels=None,
    *,
    sampler=None,
    holdout: tuple | None = None,
    model="lenet",
    width: float = 1.0,
    num_classes: int | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    num_devices: int = 0,
    mean=None,
    std=None,
    il_epochs: int | None = None,
    **train,
) -> IrreducibleLoss:
    """RHO-LOSS's irreducible-loss (IL) model over arrays, with no project config.

    ``sampler`` is a ``rho_loss`` sampler from :func:`lgl_spl.build_sampler` (its labels,
    seed, batch and ``il_epochs`` / ``il_data`` settings are used), or give ``labels``.
    ``holdout = (x, y)`` is what the IL model trains on (:func:`split_holdout` carves it as
    the program does); without it two models train on the two halves of ``x_train``, each
    scoring the other half (``il_data = "halves"``). ``model``: a model name or
    ``package.module:Name`` (``lgl_spl.models``), or a Linen module returning logits or
    ``(logits, features)``; ``train``: the train block's optimiser settings (``optimizer``,
    ``learning_rate``, ``momentum``, ``weight_decay``, …; lgl_spl/settings.py). Then
    ``losses, facts = learner.compute()`` gives the IL loss of every training example, to hand
    each step as ``per_example={"irreducible_loss": losses[indices]}``.
    """
    from lgl_spl.timing import PhaseTimer

    if sampler is not None:
        if labels is not None:
            raise ConfigError("pass either a rho_loss sampler or labels, not both")
        if "il_data" not in sampler.settings:
            raise ConfigError(
                f"the irreducible-loss model is RHO-LOSS's; got a {sampler.name!r} sampler"
            )
        labels, num_classes = sampler.labels, sampler.num_classes
        seed = sampler.seed if seed is None else seed
        batch_size = sampler.batch_size if batch_size is None else batch_size
        il_epochs = int(sampler.settings.il_epochs) if il_epochs is None else il_epochs
        if sampler.settings.il_data == "holdout" and holdout is None:
            raise ConfigError(
                "this rho_loss sampler trains its IL model on a holdout: pass holdout=(x, y) "
                "(lgl_spl.split_holdout carves one), or build the sampler with il_data='halves'"
            )
        if sampler.settings.il_data == "halves" and holdout is not None:
            raise ConfigError(
                "this rho_loss sampler trains its IL models on the two halves of x_train "
                "(il_data='halves', the default): leave holdout out, or build the sampler "
                "with il_data='holdout' to train on the holdout"
            )
    if labels is None:
        raise ConfigError("the irreducible-loss model needs labels (or a rho_loss sampler)")
    x, y, c, block, net = learner_inputs(
        x_train, labels, num_classes=num_classes, batch_size=batch_size, model=model,
        width=width, train=train,
    )  # fmt: skip
    spec = data_lib.normalisation_of(x, mean, std)
    if holdout is not None:
        hx, hy = holdout
        holdout = (np.asarray(hx), np.asarray(hy, np.int32))
    return IrreducibleLoss(
        model=net,
        train=block,
        spec=spec,
        epochs=int(il_epochs if il_epochs is not None else 10),
        seed=int(seed or 0),
        x_train=x,
        y_train=y,
        num_classes=c,
        holdout=holdout,
        mesh=parallel.make_mesh(num_devices),
        timer=PhaseTimer(),
    )
