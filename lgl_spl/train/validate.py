"""Checks that stop a bad run before training, with one line naming the problem."""

from __future__ import annotations

import math

from lgl_spl import settings
from lgl_spl.errors import ConfigError
from lgl_spl.samplers import get_method, validate_method

# Every key the schema declares (lgl_spl.settings): a config has them all.
_REQUIRED = (
    *settings.TOP,
    "method.name",
    *(f"{block}.{key}" for block, fields in settings.BLOCKS.items() for key in fields),
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
    from lgl_spl.models import check_model_name

    for key in _REQUIRED:
        _get(config, key)
    get_method(config.method.name)  # unknown methods first: the rest depends on it
    if config.data.name not in KNOWN_DATASETS and not config.data.npz_path:
        raise ConfigError(
            f"unknown dataset {config.data.name!r}; choose one of {', '.join(KNOWN_DATASETS)} "
            "or set data.npz_path"
        )
    if config.data.name == "folder" and not config.data.npz_path:
        _validate_folder(config.data)
    check_model_name(config.model.name)  # a registered name or an importable module class
    _positive_int(config, "train.batch_size")
    for key, epochs in (
        ("train.num_steps", "num_epochs"),
        ("train.eval_every", "eval_every_epochs"),
    ):
        by_epochs = float(config.train[epochs])
        if not (math.isfinite(by_epochs) and by_epochs >= 0):
            raise ConfigError(f"train.{epochs} must be a finite number ≥ 0, got {by_epochs}")
        _positive_int(config, key, allow_zero=by_epochs > 0)  # derived from the epochs then
    _positive_int(config, "data.train_limit", allow_zero=True)
    _positive_int(config, "data.test_limit", allow_zero=True)
    _positive_int(config, "seed", allow_zero=True)
    for key in ("data.val_fraction", "data.label_noise"):
        _fraction(config, key)
    from lgl_spl.data import AUGMENT_CHOICES, NOISE_KINDS

    kind = config.data.label_noise_type
    if kind not in NOISE_KINDS:
        raise ConfigError(
            f"data.label_noise_type must be one of {', '.join(NOISE_KINDS)}, got {kind!r}"
        )

    if config.data.augment not in (*AUGMENT_CHOICES, True, False):
        raise ConfigError(
            f"data.augment must be one of {', '.join(AUGMENT_CHOICES)}, got {config.data.augment!r}"
        )
    from lgl_spl.models.registry import COMPUTE_DTYPES

    dtype = config.train.compute_dtype
    if dtype not in COMPUTE_DTYPES:
        raise ConfigError(
            f"train.compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {dtype!r}"
        )
    lr = float(config.train.learning_rate)
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"train.learning_rate must be a positive number, got {lr}")
    if not float(config.model.width) > 0:  # also NaN
        raise ConfigError(f"model.width must be > 0, got {config.model.width}")
    _validate_train(config.train)
    # Then every key against its declaration: types, ranges and choices (lgl_spl.settings).
    for key, field in settings.TOP.items():
        field.check(key, config[key])
    for name, fields in settings.BLOCKS.items():
        settings.check_block(name, config[name], fields, owner=f"the {name} block")
    validate_method(config.method)


def _validate_folder(data) -> None:
    """``data.name = "folder"`` needs a path (its size and memory limit: the schema; the
    files: at load)."""
    if not data.path:
        raise ConfigError(
            'data.name "folder" needs data.path: a folder holding train/<class>/ and test/<class>/'
        )


def _validate_train(train) -> None:
    """The optimiser and schedule are built here (cheaply): unknown names raise ConfigError."""
    from lgl_spl.train.state import make_optimizer, make_schedule

    make_optimizer(train)
    make_schedule(train)


def validate_devices(config, available: int) -> None:
    """Checks that need only the device count (before any data is read)."""
    requested = int(config.train.num_devices)
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


def validate_step_selector(selector, batch: int, device_count: int) -> None:
    """A step-level selector keeps ``batch`` of its candidates, sharded over the devices."""
    m = int(selector.candidates)
    if m < batch:
        raise ConfigError(
            f"a step's candidates ({m}) must be at least train.batch_size ({batch}): the "
            "step keeps train.batch_size of them"
        )
    if m % device_count:
        raise ConfigError(
            f"a step's candidates ({m}) must be divisible by the {device_count} devices"
        )
