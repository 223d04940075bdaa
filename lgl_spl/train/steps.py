"""Jitted, data-parallel train / eval / scoring steps, fed by index arrays.

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

import functools
from collections.abc import Callable
from typing import NamedTuple

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
from lgl_spl.train.state import MethodTrainState, TrainState


def mask_logits(logits: jax.Array, class_mask: jax.Array) -> jax.Array:
    """Logits of classes a model may not predict (LGL) at a finite, very negative value."""
    return jnp.where(class_mask[None, :], logits, MASKED_LOGIT)


def model_variables(params, batch_stats) -> dict:
    """Linen variables from params and (possibly empty) BatchNorm statistics."""
    return {"params": params, "batch_stats": batch_stats} if batch_stats else {"params": params}


class Steps(NamedTuple):
    """The compiled steps of one run."""

    train: Callable  # (state, x, y, indices, weights, key, schedule_step, class_mask)
    evaluate: Callable  # (state, x, y, indices, weights, class_mask) -> sums
    score: Callable  # (state, x, y, indices, weights, class_mask, want) -> the wanted outputs


# A step's record of what it trained on, for a method with step signals (replicated).
TRAINED_KEYS = ("trained_indices", "trained_losses", "trained_correct", "trained_weights")

# What a scoring pass can compute: per-example (batch-sharded) outputs, and LGL's
# per-class entropy sums (reduced over the batch on device, [C] each).
PER_EXAMPLE = ("losses", "logits", "features")
SCORES = (*PER_EXAMPLE, "class_entropies")


def make_steps(
    model,
    tx,
    schedule,
    spec: AugmentSpec,
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
):
    """Build the jitted steps for ``model`` on ``mesh``.

    With ``host_batches`` the data arguments are the already-gathered global
    batch (sharded) and ``indices`` must be ``arange(batch)``.

    With a ``selector`` the train step receives a row of candidates (more than
    ``batch_size``), scores them in eval mode with the current parameters, and
    updates on the ``batch_size`` the selector picks (docs/design.md §2). Its train step
    takes a ninth argument, ``per_example``: a dict of replicated per-example arrays [N]
    that the selector reads at the candidates' indices (``noisy``, a 0/1 mask, is kept
    for the records and never shown to the selector). Before ``warmup_steps`` (the
    state's step) it scores nothing and keeps the first ``batch_size`` candidates.

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
    data_sharding = bat if host_batches else rep

    def forward(params, batch_stats, images, *, train, key=None, net=model):
        variables = model_variables(params, batch_stats)
        if train:
            (logits, features), updates = net.apply(
                variables, images, train=True, rngs={"dropout": key}, mutable=["batch_stats"]
            )
            return logits, features, updates.get("batch_stats", batch_stats)
        logits, features = net.apply(variables, images, train=False)
        return logits, features, batch_stats

    def select(state: TrainState, x, y, indices, weights, class_mask, per_example):
        """Score the candidates in eval mode; keep the selector's ``batch_size`` of them."""
        labels = y[indices]
        real = weights > 0
        shown = {k: v[indices] for k, v in per_example.items() if k != "noisy"}

        def scored(_):
            images = augment(jax.random.key(0), x[indices], spec, train=False)
            if proxy_model is None:
                logits, features, _ = forward(state.params, state.batch_stats, images, train=False)
            else:
                p = state.proxy
                logits, features, _ = forward(
                    p.params, p.batch_stats, images, train=False, net=proxy_model
                )
            candidates = score_candidates(
                logits, labels, indices, weights, class_mask=class_mask, per_example=shown,
                features=features,
            )  # fmt: skip
            chosen, kept_weights = select_candidates(selector, candidates, batch_size)
            return chosen, kept_weights, candidates.losses, jnp.sum(real).astype(jnp.int32)

        def warming(_):
            # A uniform batch: the row's first candidates, nothing scored.
            none = jnp.zeros(indices.shape, jnp.float32)
            first = jnp.arange(batch_size, dtype=jnp.int32)
            return first, weights[first], none, jnp.int32(0)

        if warmup_steps:
            chosen, kept_weights, losses, count = jax.lax.cond(
                state.step < warmup_steps, warming, scored, None
            )
        else:
            chosen, kept_weights, losses, count = scored(None)
        kept = jax.lax.with_sharding_constraint(indices[chosen], bat)
        kept_real = (kept_weights > 0).astype(jnp.float32)
        num_classes = class_mask.shape[0]
        noisy = per_example.get("noisy")
        metrics = {
            "scored": count,
            "extra_forward": count if proxy_model is None else jnp.int32(0),
            "selected": kept,
            "selected_per_class": jnp.zeros(num_classes, jnp.int32)
            .at[labels[chosen]]
            .add(kept_real.astype(jnp.int32)),
            "selected_loss": jnp.sum(losses[chosen] * kept_real),
            "candidate_loss": jnp.sum(losses * real),
            "scored_selected": jnp.where(count > 0, jnp.sum(kept_real), 0.0),
            "selected_noisy": (
                jnp.float32(0) if noisy is None else jnp.sum(noisy[kept] * kept_real)
            ),
        }
        return kept, jax.lax.with_sharding_constraint(kept_weights, bat), metrics

    def train_step(
        state: TrainState, x, y, indices, weights, key, schedule_step, class_mask, per_example=None
    ):
        key = jax.random.fold_in(key, state.step)
        aug_key, dropout_key = jax.random.split(key)
        picked = {}
        if selector is not None:
            indices, weights, picked = select(
                state, x, y, indices, weights, class_mask, per_example
            )
        images = augment(aug_key, x[indices], spec, train=True)
        labels = y[indices]

        def loss_fn(params):
            logits, _, new_stats = forward(
                params, state.batch_stats, images, train=True, key=dropout_key
            )
            logits = mask_logits(logits, class_mask)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
            per_example, loss_state = ce, None
            if loss_transform is not None:
                batch = LossBatch(labels, logits, indices, weights)
                per_example, loss_state = loss_transform.apply(state.loss_state, ce, batch)
                loss_state = jax.lax.stop_gradient(loss_state)
            if loss_mean == "examples":  # weights rescale losses (InfoBatch)
                total = jnp.sum(weights > 0).astype(jnp.float32)
            else:
                total = jnp.sum(weights)
            loss = jnp.sum(per_example * weights) / jnp.maximum(total, 1.0)
            return loss, (new_stats, total, ce, logits, loss_state)

        (loss, (new_stats, total, ce, logits, loss_state)), grads = jax.value_and_grad(
            loss_fn, has_aux=True
        )(state.params)
        lr = schedule(schedule_step)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        updates = jax.tree.map(lambda u: -lr * u, updates)
        parts = dict(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            batch_stats=new_stats,
            opt_state=opt_state,
        )
        if loss_transform is None and proxy_model is None:
            new_state = TrainState(**parts)
        else:
            proxy = None
            if proxy_model is not None:
                scored = picked["scored"].astype(jnp.uint32)
                proxy = train_proxy(state.proxy, images, labels, weights, dropout_key, lr,
                                    class_mask, scored)  # fmt: skip
            new_state = MethodTrainState(**parts, loss_state=loss_state, proxy=proxy)
        metrics = {"loss": loss, "weight": total, "lr": lr, **picked}
        if step_signals:
            ce = jax.lax.stop_gradient(ce)
            values = (indices, ce, jnp.argmax(logits, -1) == labels, weights)
            metrics.update(zip(TRAINED_KEYS, values, strict=True))
        return new_state, metrics

    def train_proxy(proxy, images, labels, weights, key, lr, class_mask, scored):
        """One update of the proxy on the student's batch (its own dropout stream)."""

        def loss_fn(params):
            logits, _, new_stats = forward(
                params, proxy.batch_stats, images, train=True, key=jax.random.fold_in(key, 1),
                net=proxy_model,
            )  # fmt: skip
            ce = optax.softmax_cross_entropy_with_integer_labels(
                mask_logits(logits, class_mask), labels
            )
            return jnp.sum(ce * weights) / jnp.maximum(jnp.sum(weights), 1.0), new_stats

        grads, new_stats = jax.grad(loss_fn, has_aux=True)(proxy.params)
        updates, opt_state = tx.update(grads, proxy.opt_state, proxy.params)
        updates = jax.tree.map(lambda u: -lr * u, updates)
        trained = jnp.sum(weights > 0).astype(jnp.uint32)
        return proxy.replace(
            params=optax.apply_updates(proxy.params, updates),
            batch_stats=new_stats,
            opt_state=opt_state,
            forward=proxy.forward + scored + trained,
            backward=proxy.backward + trained,
        )

    def eval_step(state, x, y, indices, weights, class_mask):
        images = augment(jax.random.key(0), x[indices], spec, train=False)
        logits, _, _ = forward(state.params, state.batch_stats, images, train=False)
        logits = mask_logits(logits, class_mask)
        labels = y[indices]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
        return {
            "correct": jnp.sum(correct * weights),
            "loss": jnp.sum(ce * weights),
            "count": jnp.sum(weights),
        }

    def score_step(state, x, y, indices, weights, class_mask, *, want):
        images = augment(jax.random.key(0), x[indices], spec, train=False)
        logits, features, _ = forward(state.params, state.batch_stats, images, train=False)
        logits = mask_logits(logits, class_mask)
        labels = y[indices]
        out = {}
        if "losses" in want:
            out["losses"] = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        if "logits" in want:
            out["logits"] = logits
        if "features" in want:
            out["features"] = features
        if "class_entropies" in want:
            out["entropy_sums"], out["entropy_counts"] = class_entropy_sums(
                logits, labels, class_mask, weights, num_classes=logits.shape[-1]
            )
        return out

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
            functools.partial(score_step, want=want),
            in_shardings=(rep, data_sharding, data_sharding, bat, bat, rep),
            out_shardings=shardings,
        )

    def score(state, x, y, indices, weights, class_mask, want):
        return scorer(tuple(sorted(want)))(state, x, y, indices, weights, class_mask)

    if selector is None:
        train = jax.jit(
            train_step,
            in_shardings=(rep, data_sharding, data_sharding, bat, bat, rep, rep, rep),
            out_shardings=(rep, rep),
            donate_argnums=(0,),
        )
    else:
        metrics_shardings = {k: rep for k in (
            "loss", "weight", "lr", "scored", "extra_forward", "selected_per_class",
            "selected_loss", "candidate_loss", "scored_selected", "selected_noisy",
        )}  # fmt: skip
        metrics_shardings["selected"] = bat
        if step_signals:
            metrics_shardings.update({k: rep for k in TRAINED_KEYS})
        selecting = jax.jit(
            train_step,
            in_shardings=(rep, data_sharding, data_sharding, bat, bat, rep, rep, rep, rep),
            out_shardings=(rep, metrics_shardings),
            donate_argnums=(0,),
        )

        def train(state, x, y, indices, weights, key, schedule_step, class_mask, per_example=None):
            return selecting(
                state, x, y, indices, weights, key, schedule_step, class_mask, per_example or {}
            )

    evaluate = jax.jit(
        eval_step,
        in_shardings=(rep, data_sharding, data_sharding, bat, bat, rep),
        out_shardings=rep,
    )
    return Steps(train, evaluate, score)
