"""Checks that stop a bad run before training, with one line naming the problem."""

from __future__ import annotations

import math
import os

from lgl_spl.errors import ConfigError

_REQUIRED = (
    "seed",
    "method.name",
    "data.name",
    "data.npz_path",
    "data.train_limit",
    "train.num_steps",
    "train.batch_size",
    "train.eval_every",
)


def _get(config, dotted: str):
    node = config
    for part in dotted.split("."):
        if part not in node:
            raise ConfigError(f"config is missing the key {dotted!r}")
        node = node[part]
    return node


def _positive_int(config, key: str, *, allow_zero: bool = False) -> None:
    value = _get(config, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{key} must be {'≥ 0' if allow_zero else '> 0'}, got {value}")


def _fraction(config, key: str) -> None:
    value = float(_get(config, key))
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ConfigError(f"{key} must be in [0, 1), got {value}")


def validate_config(config) -> None:
    """Checks that need no data: names, types, ranges."""
    from lgl_spl.data import KNOWN_DATASETS
    from lgl_spl.models import MODELS
    from lgl_spl.samplers import SAMPLERS

    for key in _REQUIRED:
        _get(config, key)
    if config.method.name not in SAMPLERS:
        raise ConfigError(
            f"unknown method {config.method.name!r}; choose one of {', '.join(sorted(SAMPLERS))}"
        )
    if config.data.name not in KNOWN_DATASETS and not config.data.npz_path:
        raise ConfigError(
            f"unknown dataset {config.data.name!r}; choose one of {', '.join(KNOWN_DATASETS)} "
            "or set data.npz_path"
        )
    if config.model.name not in MODELS:
        raise ConfigError(
            f"unknown model {config.model.name!r}; choose one of {', '.join(sorted(MODELS))}"
        )
    for key in ("train.num_steps", "train.batch_size", "train.eval_every"):
        _positive_int(config, key)
    _positive_int(config, "data.train_limit", allow_zero=True)
    _positive_int(config, "seed", allow_zero=True)
    for key in ("data.val_fraction", "data.label_noise"):
        _fraction(config, key)
    from lgl_spl.data import AUGMENT_CHOICES

    if config.data.get("augment", "default") not in (*AUGMENT_CHOICES, True, False):
        raise ConfigError(
            f"data.augment must be one of {', '.join(AUGMENT_CHOICES)}, got {config.data.augment!r}"
        )
    lr = float(config.train.learning_rate)
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"train.learning_rate must be a positive number, got {lr}")
    if not float(config.model.width) > 0:  # also NaN
        raise ConfigError(f"model.width must be > 0, got {config.model.width}")
    _validate_train(config.train)
    _validate_method(config.method)


def _number(node, key: str, default, *, low=None, high=None, low_open=False, prefix="method"):
    """A finite number in [low, high] (or (low, high] with ``low_open``)."""
    value = node.get(key, default)
    name = f"{prefix}.{key}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    value = float(value)
    below = low is not None and (value <= low if low_open else value < low)
    if not math.isfinite(value) or below or (high is not None and value > high):
        lo = "" if low is None else f"{'>' if low_open else '≥'} {low:g}"
        hi = "" if high is None else f"≤ {high:g}"
        bounds = " and ".join(filter(None, (lo, hi)))
        raise ConfigError(f"{name} must be a finite number {bounds}, got {value}")


def _integer(node, key: str, default, *, low: int, prefix="method"):
    value = node.get(key, default)
    name = f"{prefix}.{key}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ConfigError(f"{name} must be ≥ {low}, got {value}")


def _choice(node, key: str, default, choices, *, prefix="method"):
    value = node.get(key, default)
    if value not in choices:
        raise ConfigError(
            f"{prefix}.{key} must be one of {', '.join(map(str, choices))}, got {value!r}"
        )


def _validate_train(train) -> None:
    """Optimiser, schedule and bookkeeping keys (the optimiser is built here, cheaply)."""
    from lgl_spl.train.state import make_optimizer, make_schedule

    make_optimizer(train)  # unknown names raise ConfigError
    make_schedule(train)
    _integer(train, "eval_batch_size", 1000, low=1, prefix="train")
    _integer(train, "num_devices", 0, low=0, prefix="train")
    _integer(train, "checkpoint_every", 0, low=0, prefix="train")
    _number(train, "weight_decay", 0.0, low=0.0, prefix="train")
    _number(train, "momentum", 0.0, low=0.0, high=1.0, prefix="train")


def _validate_method(m) -> None:
    """The method's own hyperparameters: names, pace parameters, cluster and stage counts.

    The pace thresholds themselves are not configured: λ_e is the q_e-quantile of
    the losses and γ_e = g_e·λ_e, so q0, beta1, beta2 and g0 decide them.
    """
    from lgl_spl.core import LGL_STRATEGIES
    from lgl_spl.models import EMBEDDING_MODELS

    name = m.name
    if name in ("spl", "spl_inv", "spld", "advise"):
        _number(m, "q0", 0.5, low=0.0, high=1.0, low_open=True)
        _number(m, "beta1", 0.1, low=0.0)
        _number(m, "beta2", 0.1, low=0.0)
        _number(m, "g0", 0.5, low=0.0)
        _integer(m, "warmup_rounds", 1, low=0)
        _integer(m, "rescore_every", 1, low=1)
    if name in ("spld", "advise"):
        _integer(m, "num_clusters", 8, low=1)
    if name == "spld":
        _choice(m, "groups", "features", ("features", "pixels"))
    if name == "advise":
        _choice(m, "embed_model", "lenet_embed", EMBEDDING_MODELS)
        _choice(m, "schedule", "interleaved", ("interleaved", "pretrain"))
        _integer(m, "clusters_per_batch", 8, low=2)  # the magnet loss needs impostors
        _integer(m, "examples_per_cluster", 8, low=1)
        _integer(m, "refresh_every", 500, low=1)
        _integer(m, "embed_steps", 2000, low=0)
        _integer(m, "student_steps_per_embed_step", 1, low=1)
        _integer(m, "embed_dim", 64, low=1)
        _integer(m, "snapshot_examples", 1000, low=0)
        _number(m, "embed_width", 1.0, low=0.0, low_open=True)
        _number(m, "embed_lr", 1e-4, low=0.0, low_open=True)
        _number(m, "alpha", 1.0, low=0.0)
    if name == "lgl":
        _choice(m, "order", "random", LGL_STRATEGIES)
        _choice(m, "budget", "paper", ("paper", "fair"))
        _integer(m, "num_stages", 3, low=1)
        _integer(m, "schedule_steps", 0, low=0)


def validate_devices(config, available: int) -> None:
    """Checks that need only the device count (before any data is read)."""
    requested = int(config.train.get("num_devices", 0))
    if requested > available:
        raise ConfigError(
            f"train.num_devices={requested} but only {available} devices are available"
        )
    count = requested or available
    batch = int(config.train.batch_size)
    if batch % count:
        raise ConfigError(
            f"train.batch_size {batch} is not divisible by the {count} devices; "
            f"use a multiple of {count}"
        )


def validate_run(config, dataset, device_count: int) -> None:
    """Checks that need the data and the devices."""
    batch = int(config.train.batch_size)
    if batch % device_count:
        raise ConfigError(
            f"train.batch_size {batch} is not divisible by the {device_count} devices; "
            f"use a multiple of {device_count}"
        )
    n = int(dataset.y_train.shape[0])
    if n == 0:
        raise ConfigError(f"dataset {config.data.name!r} has no training examples")


def check_workdir(workdir: str) -> None:
    """The workdir must exist (or be creatable) and be writable."""
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"workdir {workdir!r} cannot be written: {e.strerror or e}") from None
