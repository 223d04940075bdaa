"""Jitted, data-parallel train / eval / scoring steps, fed by index arrays.

Each step is a top-level function of a :class:`StepSpec` (what does not change during a
run: networks, optimiser, augmentation, the method's step-level parts) and its arguments,
the data among them one :class:`StepBatch`; :func:`make_steps` binds the spec and compiles
them, the shardings given per argument as pytree prefixes.

Datasets that fit in memory sit on every device (replicated); a step receives
only the global batch of *indices* (sharded over the 'data' axis), gathers the
examples on device and augments them there. Datasets that do not fit (ImageNet)
are gathered on the host by the same indices and passed as batches instead.
Each step compiles once per run: shapes are static, padding is masked by
weights, and LGL restricts classes by masking logits, never by reshaping.

The train step returns a metrics dict (device scalars the loop drains when it needs
them): ``loss`` and ``weight`` (the weighted mean loss and its total weight), ``lr``,
and, with a step-level selector, ``scored`` (the candidates it scored), ``extra_forward``
(those the student scored: 0 when a proxy scores them),
``selected`` (the training-set indices it trained on) and the sums the round records
are made of: ``selected_per_class`` [C] (what was trained on), ``selected_loss`` and
``candidate_loss`` (eval-mode losses of the kept and of all real candidates; 0 in a
warm-up step, which scores nothing), ``scored_selected`` (the kept real candidates of
scored steps) and ``selected_noisy`` (flipped labels among the kept, when the step is
handed the ``noisy`` mask).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lgl_spl.core import class_entropy_sums
from lgl_spl.core.loss_transform import LossBatch, LossTransform
from lgl_spl.core.step_selection import (
    MASKED_LOGIT,
    Selector,
    score_candidates,
    select_candidates,
)
from lgl_spl.data import AugmentSpec, augment
from lgl_spl.parallel import batch_sharded, replicated
from lgl_spl.samplers.base import PER_EXAMPLE, SCORES
from lgl_spl.train.state import MethodTrainState, TrainState


def mask_logits(logits: jax.Array, class_mask: jax.Array) -> jax.Array:
    """Logits of classes a model may not predict (LGL) at a finite, very negative value."""
    return jnp.where(class_mask[None, :], logits, MASKED_LOGIT)


def model_variables(params, batch_stats) -> dict:
    """Linen variables from params and (possibly empty) BatchNorm statistics."""
    return {"params": params, "batch_stats": batch_stats} if batch_stats else {"params": params}


class StepBatch(NamedTuple):
    """The data a step reads: ``x`` and ``y`` (the whole split, replicated, or with host
    batches the gathered global batch, sharded), the batch's ``indices`` into them and its
    ``weights`` (0: padding), both [batch] and sharded over the 'data' axis."""

    x: jax.Array
    y: jax.Array
    indices: jax.Array
    weights: jax.Array

    @staticmethod
    def shardings(mesh, host_batches: bool) -> StepBatch:
        data = batch_sharded(mesh) if host_batches else replicated(mesh)
        return StepBatch(data, data, batch_sharded(mesh), batch_sharded(mesh))


class Steps(NamedTuple):
    """The compiled steps of one run."""

    # (state, batch, key, schedule_step, class_mask, per_example) -> (state, metrics);
    # per_example: {} without a step-level selector
    train: Callable
    evaluate: Callable  # (state, batch, class_mask) -> sums
    score: Callable  # (state, batch, class_mask, want) -> the wanted outputs


# A step's record of what it trained on, for a method with step signals (replicated).
TRAINED_KEYS = ("trained_indices", "trained_losses", "trained_correct", "trained_weights")


class StepSum(NamedTuple):
    """A selecting step's metric that the round's record sums (``RunState.add_selection``)."""

    metric: str  # the train step's metric (replicated)
    total: str  # its sum over the round (``RunState.selection``, kept in checkpoints)
    kind: type  # how the host adds it: int, float, or list (per-class counts)


# The per-step sums of a step-level selector; a new one is a line here and its value in
# ``select`` (the round's record reads them in ``RunState.selection_facts``).
STEP_SUMS = (
    StepSum("selected_per_class", "per_class", list),  # [C] what was trained on
    StepSum("selected_loss", "selected_loss", float),  # eval-mode losses of the kept
    StepSum("candidate_loss", "candidate_loss", float),  # ... and of all real candidates
    StepSum("scored_selected", "scored_selected", float),  # kept real candidates, scored steps
    StepSum("selected_noisy", "selected_noisy", float),  # flipped labels among the kept
    StepSum("scored", "candidates", int),  # candidates scored (0 in a warm-up step)
)


@dataclasses.dataclass(frozen=True)
class StepSpec:
    """What the steps of one run close over (fixed for the run)."""

    model: Any
    tx: optax.GradientTransformation
    schedule: Callable
    augment: AugmentSpec
    selector: Selector | None = None  # a step-level selector: the train step selects
    batch_size: int | None = None  # what the selector keeps
    warmup_steps: int = 0  # steps before it scores (uniform batches)
    step_signals: bool = False  # the train step returns TRAINED_KEYS
    loss_transform: LossTransform | None = None
    loss_mean: str = "weights"  # or "examples": divide by the examples of weight > 0
    proxy_model: Any = None  # the selector's proxy scorer
    sharded: Any = None  # the batch sharding (NamedSharding over 'data') of kept examples


def forward(net, params, batch_stats, images, *, train, key=None):
    """(logits, features, batch statistics) of ``net``; train mode updates the statistics."""
    variables = model_variables(params, batch_stats)
    if train:
        (logits, features), updates = net.apply(
            variables, images, train=True, rngs={"dropout": key}, mutable=["batch_stats"]
        )
        return logits, features, updates.get("batch_stats", batch_stats)
    logits, features = net.apply(variables, images, train=False)
    return logits, features, batch_stats


def select(spec: StepSpec, state: TrainState, batch: StepBatch, class_mask, per_example):
    """Score the candidates in eval mode; keep the selector's ``batch_size`` of them.

    Returns the kept indices and weights and the step's selection metrics (the
    :data:`STEP_SUMS`, ``extra_forward`` and ``selected``)."""
    x, y, indices, weights = batch
    labels = y[indices]
    real = weights > 0
    shown = {k: v[indices] for k, v in per_example.items() if k != "noisy"}

    def scored(_):
        images = augment(jax.random.key(0), x[indices], spec.augment, train=False)
        if spec.proxy_model is None:
            net, params, stats = spec.model, state.params, state.batch_stats
        else:
            net, params, stats = spec.proxy_model, state.proxy.params, state.proxy.batch_stats
        logits, features, _ = forward(net, params, stats, images, train=False)
        candidates = score_candidates(
            logits, labels, indices, weights, class_mask=class_mask, per_example=shown,
            features=features,
        )  # fmt: skip
        chosen, kept_weights = select_candidates(spec.selector, candidates, spec.batch_size)
        return chosen, kept_weights, candidates.losses, jnp.sum(real).astype(jnp.int32)

    def warming(_):
        # A uniform batch: the row's first candidates, nothing scored.
        none = jnp.zeros(indices.shape, jnp.float32)
        first = jnp.arange(spec.batch_size, dtype=jnp.int32)
        return first, weights[first], none, jnp.int32(0)

    if spec.warmup_steps:
        chosen, kept_weights, losses, count = jax.lax.cond(
            state.step < spec.warmup_steps, warming, scored, None
        )
    else:
        chosen, kept_weights, losses, count = scored(None)
    kept = jax.lax.with_sharding_constraint(indices[chosen], spec.sharded)
    kept_real = (kept_weights > 0).astype(jnp.float32)
    num_classes = class_mask.shape[0]
    noisy = per_example.get("noisy")
    sums = {
        "scored": count,
        "selected_per_class": jnp.zeros(num_classes, jnp.int32)
        .at[labels[chosen]]
        .add(kept_real.astype(jnp.int32)),
        "selected_loss": jnp.sum(losses[chosen] * kept_real),
        "candidate_loss": jnp.sum(losses * real),
        "scored_selected": jnp.where(count > 0, jnp.sum(kept_real), 0.0),
        "selected_noisy": jnp.float32(0) if noisy is None else jnp.sum(noisy[kept] * kept_real),
    }
    metrics = {
        **{s.metric: sums[s.metric] for s in STEP_SUMS},
        "extra_forward": count if spec.proxy_model is None else jnp.int32(0),
        "selected": kept,
    }
    kept_weights = jax.lax.with_sharding_constraint(kept_weights, spec.sharded)
    return batch._replace(indices=kept, weights=kept_weights), metrics


def train_step(
    spec: StepSpec, state: TrainState, batch: StepBatch, key, schedule_step, class_mask,
    per_example,
):  # fmt: skip
    """One update of the student (and of a proxy scorer), on the batch a selector keeps
    when the spec has one; the new state and the step's metrics (module docstring)."""
    key = jax.random.fold_in(key, state.step)
    aug_key, dropout_key = jax.random.split(key)
    picked = {}
    if spec.selector is not None:
        batch, picked = select(spec, state, batch, class_mask, per_example)
    x, y, indices, weights = batch
    images = augment(aug_key, x[indices], spec.augment, train=True)
    labels = y[indices]

    def loss_fn(params):
        logits, _, new_stats = forward(
            spec.model, params, state.batch_stats, images, train=True, key=dropout_key
        )
        logits = mask_logits(logits, class_mask)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        per_example, loss_state = ce, None
        if spec.loss_transform is not None:
            parts = LossBatch(labels, logits, indices, weights)
            per_example, loss_state = spec.loss_transform.apply(state.loss_state, ce, parts)
            loss_state = jax.lax.stop_gradient(loss_state)
        if spec.loss_mean == "examples":  # weights rescale losses (InfoBatch)
            total = jnp.sum(weights > 0).astype(jnp.float32)
        else:
            total = jnp.sum(weights)
        loss = jnp.sum(per_example * weights) / jnp.maximum(total, 1.0)
        return loss, (new_stats, total, ce, logits, loss_state)

    (loss, (new_stats, total, ce, logits, loss_state)), grads = jax.value_and_grad(
        loss_fn, has_aux=True
    )(state.params)
    lr = spec.schedule(schedule_step)
    updates, opt_state = spec.tx.update(grads, state.opt_state, state.params)
    updates = jax.tree.map(lambda u: -lr * u, updates)
    parts = dict(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        batch_stats=new_stats,
        opt_state=opt_state,
    )
    if spec.loss_transform is None and spec.proxy_model is None:
        new_state = TrainState(**parts)
    else:
        proxy = None
        if spec.proxy_model is not None:
            scored = picked["scored"].astype(jnp.uint32)
            proxy = train_proxy(spec, state.proxy, images, labels, weights, dropout_key, lr,
                                class_mask, scored)  # fmt: skip
        new_state = MethodTrainState(**parts, loss_state=loss_state, proxy=proxy)
    metrics = {"loss": loss, "weight": total, "lr": lr, **picked}
    if spec.step_signals:
        ce = jax.lax.stop_gradient(ce)
        values = (indices, ce, jnp.argmax(logits, -1) == labels, weights)
        metrics.update(zip(TRAINED_KEYS, values, strict=True))
    return new_state, metrics


def train_proxy(spec: StepSpec, proxy, images, labels, weights, key, lr, class_mask, scored):
    """One update of the proxy on the student's batch (its own dropout stream)."""

    def loss_fn(params):
        logits, _, new_stats = forward(
            spec.proxy_model, params, proxy.batch_stats, images, train=True,
            key=jax.random.fold_in(key, 1),
        )  # fmt: skip
        ce = optax.softmax_cross_entropy_with_integer_labels(
            mask_logits(logits, class_mask), labels
        )
        return jnp.sum(ce * weights) / jnp.maximum(jnp.sum(weights), 1.0), new_stats

    grads, new_stats = jax.grad(loss_fn, has_aux=True)(proxy.params)
    updates, opt_state = spec.tx.update(grads, proxy.opt_state, proxy.params)
    updates = jax.tree.map(lambda u: -lr * u, updates)
    trained = jnp.sum(weights > 0).astype(jnp.uint32)
    return proxy.replace(
        params=optax.apply_updates(proxy.params, updates),
        batch_stats=new_stats,
        opt_state=opt_state,
        forward=proxy.forward + scored + trained,
        backward=proxy.backward + trained,
    )


def _eval_logits(spec: StepSpec, state: TrainState, batch: StepBatch, class_mask):
    x, y, indices, _ = batch
    images = augment(jax.random.key(0), x[indices], spec.augment, train=False)
    logits, features, _ = forward(spec.model, state.params, state.batch_stats, images, train=False)
    return mask_logits(logits, class_mask), features, y[indices]


def eval_step(spec: StepSpec, state: TrainState, batch: StepBatch, class_mask) -> dict:
    """Weighted sums over the batch: ``correct``, ``loss`` (cross-entropy) and ``count``."""
    logits, _, labels = _eval_logits(spec, state, batch, class_mask)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    weights = batch.weights
    return {
        "correct": jnp.sum(correct * weights),
        "loss": jnp.sum(ce * weights),
        "count": jnp.sum(weights),
    }


def score_step(spec: StepSpec, state: TrainState, batch: StepBatch, class_mask, *, want) -> dict:
    """The outputs of a scoring pass that ``want`` names (:data:`SCORES`), eval mode."""
    logits, features, labels = _eval_logits(spec, state, batch, class_mask)
    out = {}
    if "losses" in want:
        out["losses"] = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    if "logits" in want:
        out["logits"] = logits
    if "features" in want:
        out["features"] = features
    if "class_entropies" in want:
        out["entropy_sums"], out["entropy_counts"] = class_entropy_sums(
            logits, labels, class_mask, batch.weights, num_classes=logits.shape[-1]
        )
    return out


def make_steps(
    model,
    tx,
    schedule,
    augment_spec: AugmentSpec,
    mesh,
    *,
    host_batches: bool = False,
    selector: Selector | None = None,
    batch_size: int | None = None,
    warmup_steps: int = 0,
    step_signals: bool = False,
    loss_transform: LossTransform | None = None,
    loss_mean: str = "weights",
    proxy_model=None,
) -> Steps:
    """Compile the steps of ``model`` on ``mesh`` (the keywords: :class:`StepSpec`).

    With ``host_batches`` the batch's ``x`` and ``y`` are the already-gathered global
    batch (sharded) and its ``indices`` must be ``arange(batch)``.

    With a ``selector`` the train step receives a row of candidates (more than
    ``batch_size``), scores them in eval mode with the current parameters, and
    updates on the ``batch_size`` the selector picks (docs/design.md §2). Its
    ``per_example`` (``{}`` without a selector) is a dict of replicated per-example arrays
    [N] that the selector reads at the candidates' indices (``noisy``, a 0/1 mask, is kept
    for the records and never shown to the selector). Before ``warmup_steps`` (the state's
    step) it scores nothing and keeps the first ``batch_size`` candidates.

    With ``step_signals`` the train step's metrics also hold what it trained on
    (``trained_indices``, ``trained_losses``, ``trained_correct``, ``trained_weights``,
    each [batch], replicated): the per-example training losses and train-mode correctness
    the loop hands the sampler at the next round. With a ``loss_transform`` the per-example
    losses pass through it before they are averaged, its state carried in the train state
    (a :class:`MethodTrainState`). ``loss_mean="examples"`` divides the weighted losses
    by the examples of weight > 0 instead of by the weights' sum.

    With a ``proxy_model`` (a selector's proxy scorer) the candidates are scored by that
    network, whose state is the train state's ``proxy``; every train step then also updates
    the proxy on the batch the student trained on (its weighted mean cross-entropy, the
    student's optimiser and learning rate).
    """
    if selector is not None and not batch_size:
        raise ValueError("make_steps: a step-level selector needs the batch_size it keeps")
    if proxy_model is not None and selector is None:
        raise ValueError("make_steps: a proxy scores a step-level selector's candidates")
    rep, bat = replicated(mesh), batch_sharded(mesh)
    spec = StepSpec(
        model, tx, schedule, augment_spec, selector, batch_size, warmup_steps, step_signals,
        loss_transform, loss_mean, proxy_model, sharded=bat,
    )  # fmt: skip
    data = StepBatch.shardings(mesh, host_batches)
    metrics = {k: rep for k in ("loss", "weight", "lr")}
    if selector is not None:
        metrics |= {s.metric: rep for s in STEP_SUMS} | {"extra_forward": rep, "selected": bat}
    if step_signals and selector is not None:
        metrics |= {k: rep for k in TRAINED_KEYS}
    train = jax.jit(
        functools.partial(train_step, spec),
        in_shardings=(rep, data, rep, rep, rep, rep),
        out_shardings=(rep, metrics if selector is not None else rep),
        donate_argnums=(0,),
    )

    @functools.cache
    def scorer(want: tuple[str, ...]):
        """One compiled scoring step per set of wanted outputs (a run uses one or two)."""
        unknown = set(want) - set(SCORES)
        if unknown:
            raise ValueError(f"unknown scoring outputs {sorted(unknown)}; known: {SCORES}")
        shardings = {k: bat for k in PER_EXAMPLE if k in want}
        if "class_entropies" in want:
            shardings.update(entropy_sums=rep, entropy_counts=rep)
        return jax.jit(
            functools.partial(score_step, spec, want=want),
            in_shardings=(rep, data, rep),
            out_shardings=shardings,
        )

    def score(state, batch, class_mask, want):
        return scorer(tuple(sorted(want)))(state, batch, class_mask)

    evaluate = jax.jit(
        functools.partial(eval_step, spec), in_shardings=(rep, data, rep), out_shardings=rep
    )
    return Steps(train, evaluate, score)
