"""The training state (a plain pytree), optimisers and learning-rate schedules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from lgl_spl import settings
from lgl_spl.errors import ConfigError
from lgl_spl.models import init_variables


@flax.struct.dataclass
class TrainState:
    """Everything a student's update needs; checkpointed whole."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any


@flax.struct.dataclass
class MethodTrainState(TrainState):
    """The train state of a method that carries state into the step: a loss transform's
    (``loss_state``), a proxy scorer's (``proxy``, a :class:`ProxyState`); it rides along
    and is checkpointed with the rest. A separate class, so every other method's
    checkpoints keep their layout."""

    loss_state: Any = None
    proxy: Any = None


@flax.struct.dataclass
class ProxyState:
    """A proxy scorer's network and its counts: ``forward`` (examples it scored or trained
    on) and ``backward`` (examples it trained on), uint32 on the devices."""

    params: Any
    batch_stats: Any
    opt_state: Any
    forward: jax.Array
    backward: jax.Array


def make_optimizer(cfg) -> optax.GradientTransformation:
    """The optimiser *without* its learning rate, which the step applies from the schedule.

    Keeping the rate outside lets LGL restart the schedule at every stage with
    no recompilation. SGD follows PyTorch's convention (weight decay added to
    the gradient, momentum on the sum, then × lr), as both papers used it.
    """
    cfg = settings.complete(cfg, settings.TRAIN)
    name = cfg.optimizer
    wd = float(cfg.weight_decay)
    if name == "sgd":
        parts = [optax.add_decayed_weights(wd)] if wd else []
        momentum = float(cfg.momentum)
        if momentum:
            parts.append(optax.trace(decay=momentum, nesterov=bool(cfg.nesterov)))
        return optax.chain(*parts) if parts else optax.identity()
    if name == "adam":
        parts = [optax.add_decayed_weights(wd)] if wd else []
        return optax.chain(*parts, optax.scale_by_adam())
    raise ConfigError(f"unknown optimizer {name!r}; choose 'sgd' or 'adam'")


def make_schedule(cfg) -> Callable[[jax.Array], jax.Array]:
    """Learning rate as a function of the step within the current schedule (jittable)."""
    cfg = settings.complete(cfg, settings.TRAIN)
    lr = float(cfg.learning_rate)
    kind = cfg.lr_schedule
    if kind == "constant":
        return optax.constant_schedule(lr)
    if kind == "piecewise":
        factor = float(cfg.lr_decay_factor)
        bounds = {int(b): factor for b in cfg.lr_boundaries}
        return optax.piecewise_constant_schedule(lr, bounds)
    if kind == "exponential":
        # train.run_length.resolve sets lr_decay_steps from lr_decay_epochs when given.
        steps = max(int(cfg.lr_decay_steps), 1)
        return optax.exponential_decay(lr, steps, float(cfg.lr_decay_rate), staircase=True)
    if kind == "cosine":
        # train.run_length.resolve sets lr_decay_steps to the run's length when it is 0.
        return optax.cosine_decay_schedule(lr, max(int(cfg.lr_decay_steps), 1))
    raise ConfigError(
        f"unknown train.lr_schedule {kind!r}; choose constant, piecewise, exponential or cosine"
    )


def create_train_state(
    model, tx, key: jax.Array, sample: jax.Array, loss_state=None, proxy=None
) -> TrainState:
    """The initial state, made by one compiled program: run op by op, a model's
    initialisers and the optimiser's zeros compile dozens of small programs (seconds
    on a CPU before the first step). The values are the same bits either way.

    With ``loss_state`` (a loss transform's initial state) or ``proxy`` (``(the proxy's
    model, its init key)``) it is a :class:`MethodTrainState`."""
    proxy_model, proxy_key = proxy if proxy is not None else (None, None)

    def build(key, sample, proxy_key):
        params, batch_stats = init_variables(model, key, sample)
        parts = dict(
            step=jnp.zeros((), jnp.int32),
            params=params,
            batch_stats=batch_stats,
            opt_state=tx.init(params),
        )
        if loss_state is None and proxy_model is None:
            return TrainState(**parts)
        proxy_state = None
        if proxy_model is not None:
            p_params, p_stats = init_variables(proxy_model, proxy_key, sample)
            zero = jnp.zeros((), jnp.uint32)
            proxy_state = ProxyState(p_params, p_stats, tx.init(p_params), zero, zero)
        return MethodTrainState(**parts, loss_state=loss_state, proxy=proxy_state)

    return jax.jit(build)(key, sample, proxy_key)
