"""Static pruning's scoring runs, an auxiliary learner (docs/design.md §1, §4 ``prune``).

Before the first round every training example gets a score (``method.score``):

- ``el2n``: ``score_models`` copies of the student, each from its own initialisation, train
  ``score_epochs`` passes over the training set; an example's score is the mean over the
  copies of ‖softmax(f(x)) − onehot(y)‖₂ (eval mode) at the end (Paul et al. 2021);
- ``forgetting``: the same runs; the score is the mean over the copies of the example's
  forgetting events, read from each training step's own train-mode predictions (Toneva et
  al. 2019; never predicted right: ``score_epochs`` events, more than any learned example);
- ``grand``: ‖∇_θ ℓ(x, y)‖₂ at initialisation (eval mode), averaged over ``score_models``
  initialisations, one gradient per example by ``vmap`` (no training);
- ``random``: a uniform draw from the seed (no network: the baseline).

The scores are this learner's state, saved in the run's checkpoints so a resumed run never
scores again, handed to the sampler as ``signals.scores``, and written to ``scores.npz``
(each copy's scores too) for reuse. Its compute is counted: every training presentation one
forward and one backward pass, every EL2N scoring pass and GraNd gradient one forward (and
for GraNd one backward) per example (``score_forward_passes``, ``score_backward_passes``).
The copies train with the student's optimiser, batch and augmentation at a constant
learning rate (the student's schedule is laid out over the student's run).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lgl_spl import data as data_lib
from lgl_spl import models, parallel
from lgl_spl.core import pruning
from lgl_spl.errors import ConfigError
from lgl_spl.samplers import Signals, fill_round, round_rng
from lgl_spl.train.evaluator import Evaluator
from lgl_spl.train.feeding import DeviceFeeder
from lgl_spl.train.from_arrays import learner_inputs
from lgl_spl.train.state import create_train_state, make_optimizer
from lgl_spl.train.steps import StepBatch, make_steps, model_variables
from lgl_spl.util import ceil_div

SCORES = ("el2n", "grand", "forgetting", "random")
_STREAM = 61  # the copies' plans: round_rng(seed, epoch, _STREAM + copy); 60: random scores


class PruneScores:
    """The scoring runs on the auxiliary-learner protocol (``lgl_spl.train.auxiliary``)."""

    name = "prune_scores"
    outputs = ("scores.npz",)
    provides = ("scores",)

    def __init__(
        self, *, score: str, copies: int, epochs: int, model, train, spec, seed: int, x_train,
        y_train, num_classes: int, mesh, timer,
    ):  # fmt: skip
        if score not in SCORES:
            raise ConfigError(f"method.score must be one of {', '.join(SCORES)}, got {score!r}")
        self.score = score
        # A random draw is one "copy" with no network.
        self.copies = 1 if score == "random" else int(copies)
        self.epochs = int(epochs)
        self.x_train = np.asarray(x_train)
        self.y_train = np.asarray(y_train, np.int32)
        self.num_classes = int(num_classes)
        self.seed, self.batch = int(seed), int(train.batch_size)
        self.model, self.spec, self.mesh, self.timer = model, spec, mesh, timer
        self.tx = make_optimizer(train)
        self.steps = make_steps(
            model, self.tx, optax.constant_schedule(float(train.learning_rate)), spec, mesh,
            step_signals=score == "forgetting",
        )  # fmt: skip
        self.evaluator = Evaluator(
            self.steps, mesh, eval_batch_size=int(train.eval_batch_size), timer=timer
        )

    @classmethod
    def from_config(cls, config, parts: dict) -> PruneScores:
        """The program's scoring runs: copies of the student (its model, optimiser, batch and
        augmentation)."""
        m, t, ctx, ds = config.method, config.train, parts["context"], parts["dataset"]
        if ds.train_source is not None:
            raise ConfigError(
                f"method {m.name!r} scores every training example with networks trained on "
                "them in memory; this dataset is streamed from disk"
            )
        model = models.get_model(
            config.model.name, num_classes=ctx.num_classes, width=float(config.model.width),
            compute_dtype=t.compute_dtype, **dict(config.model.kwargs),
        )  # fmt: skip
        return cls(
            score=m.score, copies=int(m.score_models), epochs=int(m.score_epochs), model=model,
            train=t, spec=data_lib.default_augment(config.data.name, config.data.augment),
            seed=ctx.seed, x_train=ds.x_train, y_train=ctx.labels, num_classes=ctx.num_classes,
            mesh=parts["mesh"], timer=ctx.timer,
        )  # fmt: skip

    def compute(self) -> tuple[np.ndarray, dict]:
        """Every training example's score [N] and the facts (for a loop of one's own)."""
        state, facts = self.advance(self.init(), 0)
        return np.asarray(state["scores"]), facts

    # ---- the protocol ----------------------------------------------------------------

    def init(self) -> dict:
        n = len(self.y_train)
        return {
            "scores": np.zeros(n, np.float32),
            "per_copy": np.zeros((self.copies, n), np.float32),
            "forward": np.int64(0),
            "backward": np.int64(0),
            "done": np.int64(0),
        }

    def advance(self, state, round_index: int):
        del round_index
        if not int(state["done"]):
            with self.timer.timed("prune_scores"):
                state = self._compute()
        return state, self._facts(state)

    def signals(self, state, signals, labels):
        signals = signals or Signals(None, None, None, np.asarray(labels, np.int32))
        return signals._replace(scores=np.asarray(state["scores"], np.float32))

    def step_inputs(self, state) -> dict:
        return {}

    def forward_passes(self, state) -> int:
        return int(state["forward"])

    def evaluation(self, state) -> dict:
        return {}

    def snapshot(self, state):
        return None

    def files(self, state) -> dict:
        """``scores.npz`` once the scores exist: the mean and each copy's, with the labels."""
        if not int(state["done"]):
            return {}
        arrays = {
            "scores": np.asarray(state["scores"]),
            "per_copy": np.asarray(state["per_copy"]),
            "labels": self.y_train,
            "score": np.array(self.score),
        }
        return {"scores.npz": arrays}

    # ---- the work ----------------------------------------------------------------------

    def _compute(self) -> dict:
        n = len(self.y_train)
        per_copy = np.zeros((self.copies, n), np.float32)
        forward = backward = 0
        if self.score == "random":
            per_copy[0] = round_rng(self.seed, 0, _STREAM - 1).random(n, dtype=np.float32)
        feed = DeviceFeeder(self.x_train, self.y_train, self.mesh)
        norms = _grand_step(self.model, self.spec, self.mesh) if self.score == "grand" else None
        for copy in range(0 if self.score == "random" else self.copies):
            state = self._fresh(copy, feed)
            if self.score == "grand":
                per_copy[copy] = self._grand(state, feed, norms)
                forward, backward = forward + n, backward + n
                continue
            state, counts, seen = self._train(state, feed, copy)
            forward, backward = forward + seen, backward + seen
            if self.score == "forgetting":
                per_copy[copy] = np.asarray(pruning.forgetting_scores(counts, self.epochs))
            else:
                mask = np.ones(self.num_classes, bool)
                logits = self.evaluator.score(state, feed, mask, self.y_train, ("logits",)).logits
                per_copy[copy] = np.asarray(_el2n(logits, self.y_train))
                forward += n
        return {
            "scores": per_copy.mean(axis=0).astype(np.float32),
            "per_copy": per_copy,
            "forward": np.int64(forward),
            "backward": np.int64(backward),
            "done": np.int64(1),
        }

    def _fresh(self, copy: int, feed: DeviceFeeder):
        """Copy ``copy`` at its own initialisation, on the devices."""
        key = jax.random.fold_in(jax.random.key(self.seed), 2000 + copy)
        sample = data_lib.augment(
            jax.random.key(0), jnp.asarray(self.x_train[:1]), self.spec, train=False
        )
        return parallel.put_replicated(
            create_train_state(self.model, self.tx, key, sample), self.mesh
        )

    def _train(self, state, feed: DeviceFeeder, copy: int):
        """``score_epochs`` passes; the forgetting state (when counted) and examples seen."""
        mesh, n = self.mesh, len(self.y_train)
        step_key = parallel.put_replicated(
            jax.random.fold_in(jax.random.key(self.seed), 3000 + copy), mesh
        )
        mask = parallel.put_replicated(np.ones(self.num_classes, bool), mesh)
        counts = pruning.forgetting_init(n) if self.score == "forgetting" else None
        steps, seen = ceil_div(n, self.batch), 0
        for epoch in range(self.epochs):
            rng = round_rng(self.seed, epoch, _STREAM + copy)
            rows, weights = fill_round(rng, np.arange(n), n, steps, self.batch)
            for row, w in zip(rows, weights, strict=True):
                state, metrics = self.steps.train(
                    state, StepBatch(*feed.batch(row), parallel.put_batch(w, mesh)), step_key,
                    jnp.float32(0), mask, {},
                )  # fmt: skip
                if counts is not None:
                    counts = _forget(
                        counts, metrics["trained_indices"], metrics["trained_correct"],
                        metrics["trained_weights"],
                    )  # fmt: skip
                seen += int(w.sum())
        return state, counts, seen

    def _grand(self, state, feed: DeviceFeeder, norms) -> np.ndarray:
        """‖∇_θ ℓ‖₂ of every example at ``state``'s parameters, a batch at a time."""
        out = []
        for idx, w in parallel.padded_batches(np.arange(len(self.y_train)), self.batch):
            got = norms(state.params, state.batch_stats, feed.x, feed.y, np.asarray(idx, np.int32))
            out.append(np.asarray(jax.device_get(got))[w > 0])
        return np.concatenate(out)

    def _facts(self, state) -> dict:
        return {
            "score_forward_passes": int(state["forward"]),
            "score_backward_passes": int(state["backward"]),
            "mean_prune_score": float(np.mean(state["scores"])),
        }


_el2n = jax.jit(pruning.el2n)
_forget = jax.jit(pruning.forgetting_update)


def _grand_step(model, spec, mesh):
    """The jitted per-example gradient norms of ``model`` (eval mode, BatchNorm statistics
    as they are), every device computing the whole batch: the ``vmap`` of per-example
    gradients over a batch sharded across devices gave wrong norms for the second shard on
    the CPU backend (jax 0.10.2; tests/samplers/test_prune.py caught it), so the batch is
    not split."""
    rep = parallel.replicated(mesh)

    def norms(params, batch_stats, x, y, indices):
        images = data_lib.augment(jax.random.key(0), x[indices], spec, train=False)

        def loss_of_one(p, image, label):
            logits, _ = model.apply(model_variables(p, batch_stats), image[None], train=False)
            return optax.softmax_cross_entropy_with_integer_labels(logits, label[None])[0]

        return pruning.grad_norms(loss_of_one, params, (images, y[indices]))

    return jax.jit(norms, in_shardings=(rep,) * 5, out_shardings=rep)


def scoring_runs(config, parts: dict) -> PruneScores:
    """The program's scoring runs (``prune``'s ``Method.auxiliary``)."""
    return PruneScores.from_config(config, parts)


def build_prune_scores(
    x_train,
    labels=None,
    *,
    sampler=None,
    score: str | None = None,
    model="lenet",
    width: float = 1.0,
    num_classes: int | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    num_devices: int = 0,
    mean=None,
    std=None,
    score_models: int | None = None,
    score_epochs: int | None = None,
    **train,
) -> PruneScores:
    """Static pruning's scoring runs over arrays, with no project config.

    ``sampler`` is a ``prune`` sampler from :func:`lgl_spl.build_sampler` (its labels, seed,
    batch and ``score`` / ``score_models`` / ``score_epochs`` settings are used; a
    ``score_epochs`` of 0 there means 1 here, as no run length is known), or give ``labels``
    and ``score``. ``model``: a model name or ``package.module:Name``, or a Linen module
    returning logits or ``(logits, features)``; ``train``: the train block's optimiser
    settings (lgl_spl/settings.py). Then ``scores, facts = scorer.compute()`` gives every
    example's score, to hand the sampler's first plan as ``scores=``.
    """
    from lgl_spl.timing import PhaseTimer

    if sampler is not None:
        if labels is not None:
            raise ConfigError("pass either a prune sampler or labels, not both")
        if "score_models" not in sampler.settings:
            raise ConfigError(
                f"the scoring runs are static pruning's; got a {sampler.name!r} sampler"
            )
        s = sampler.settings
        labels, num_classes = sampler.labels, sampler.num_classes
        seed = sampler.seed if seed is None else seed
        batch_size = sampler.batch_size if batch_size is None else batch_size
        score = s.score if score is None else score
        score_models = int(s.score_models) if score_models is None else score_models
        score_epochs = int(s.score_epochs) if score_epochs is None else score_epochs
    if labels is None:
        raise ConfigError("the scoring runs need labels (or a prune sampler)")
    x, y, c, block, net = learner_inputs(
        x_train, labels, num_classes=num_classes, batch_size=batch_size, model=model,
        width=width, train=train,
    )  # fmt: skip
    return PruneScores(
        score=score or "el2n",
        copies=int(score_models or 10),
        epochs=max(1, int(score_epochs or 1)),
        model=net,
        train=block,
        spec=data_lib.normalisation_of(x, mean, std),
        seed=int(seed or 0),
        x_train=x,
        y_train=y,
        num_classes=c,
        mesh=parallel.make_mesh(num_devices),
        timer=PhaseTimer(),
    )
