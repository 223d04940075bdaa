"""Method hyperparameters declared once: defaults, types, ranges and choices.

Each sampler module declares its method's ``FIELDS``; ``configlib.set_method``
builds a config's ``method`` block from them, ``validate_method`` checks one
against them, and the sampler reads the values without defaults of its own.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from typing import Any

from lgl_spl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Field:
    """One hyperparameter: its default, what it means, and which values are allowed.

    ``kind`` is ``int``, ``float``, ``choice``, ``text`` (any string), ``flag`` (a
    bool), ``sequence`` (a tuple of numbers) or ``block`` (a free nested dict); numbers
    must lie in [low, high] ((low, high] with ``low_open``), choices in ``choices``.
    """

    default: Any
    doc: str
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple = ()

    def check(self, name: str, value: Any) -> None:
        if self.kind in _OTHER_KINDS:
            kind, what = _OTHER_KINDS[self.kind]
            if not (isinstance(value, kind) or (self.kind == "block" and hasattr(value, "items"))):
                raise ConfigError(f"{name} must be {what}, got {value!r}")
            if self.kind == "sequence" and not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value
            ):
                raise ConfigError(f"{name} must be a sequence of numbers, got {value!r}")
            return
        if self.kind == "choice":
            if value not in self.choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(map(str, self.choices))}, got {value!r}"
                )
            return
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
            if self.low is not None and value < self.low:
                raise ConfigError(f"{name} must be ≥ {self.low:g}, got {value}")
            if self.high is not None and value > self.high:
                raise ConfigError(f"{name} must be ≤ {self.high:g}, got {value}")
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        value = float(value)
        low = self.low
        below = low is not None and (value <= low if self.low_open else value < low)
        if not math.isfinite(value) or below or (self.high is not None and value > self.high):
            lo = "" if low is None else f"{'>' if self.low_open else '≥'} {low:g}"
            hi = "" if self.high is None else f"≤ {self.high:g}"
            bounds = " and ".join(filter(None, (lo, hi)))
            raise ConfigError(f"{name} must be a finite number {bounds}, got {value}")


_OTHER_KINDS = {
    "text": (str, "a string"),
    "flag": (bool, "True or False"),
    "sequence": (tuple | list, "a sequence of numbers"),
    "block": (Mapping, "a block of settings"),
}


def integer(default: int, doc: str, *, low: int | None = None, high: int | None = None) -> Field:
    return Field(default, doc, "int", low=low, high=high)


def number(default: float, doc: str, **bounds) -> Field:
    return Field(default, doc, "float", **bounds)


def choice(default: Any, doc: str, choices: tuple) -> Field:
    return Field(default, doc, "choice", choices=choices)


def text(default: str, doc: str) -> Field:
    return Field(default, doc, "text")


def flag(default: bool, doc: str) -> Field:
    return Field(default, doc, "flag")


def sequence(default: tuple, doc: str) -> Field:
    return Field(default, doc, "sequence")


def block(doc: str) -> Field:
    return Field({}, doc, "block")


def parse(name: str, field: Field, text: str) -> Any:
    """A command-line ``text`` as the value ``field`` takes (checked by ``field.check``)."""
    import ast

    text = str(text).strip()
    if field.kind == "text":
        return text
    if field.kind == "flag":
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ConfigError(f"{name} must be True or False, got {text!r}")
    if field.kind == "choice":
        for choice in field.choices:
            if str(choice) == text:
                return choice
        raise ConfigError(
            f"{name} must be one of {', '.join(map(str, field.choices))}, got {text!r}"
        )
    try:
        if field.kind == "int":
            value = int(text)
        elif field.kind == "float":
            value = float(text)  # also nan and inf, which the check refuses by name
        else:
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        what = {"int": "an integer", "float": "a number"}.get(field.kind, f"a {field.kind}")
        raise ConfigError(f"{name} must be {what}, got {text!r}") from None
    field.check(name, value)
    return value


def defaults(fields: Mapping[str, Field]) -> dict[str, Any]:
    """``{key: default}`` (a ``block`` field's default is a fresh empty dict)."""
    return {k: (dict(f.default) if f.kind == "block" else f.default) for k, f in fields.items()}


def complete(block: Any, fields: Mapping[str, Field]):
    """``block`` (a ConfigDict or a mapping) with every missing field at its default: a new,
    unlocked ConfigDict, so code reads every key directly."""
    import ml_collections

    given = block.to_dict() if hasattr(block, "to_dict") else dict(block or {})
    return ml_collections.ConfigDict({**defaults(fields), **given})


def check_block(
    prefix: str,
    block: Mapping[str, Any],
    fields: Mapping[str, Field],
    *,
    owner: str = "this method",
) -> None:
    """Every key of ``block`` is a field (with a close match suggested) and every value fits."""
    for key in block:
        if key == "name":
            continue
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(
                f"{prefix}.{key} is not a setting of {owner}{hint} (its settings: {known})"
            )
    for key, field in fields.items():
        field.check(f"{prefix}.{key}", block.get(key, field.default))


# ---- the blocks every config has -------------------------------------------------------

TOP = {"seed": integer(0, "the run's seed: data order, initialisation, plans", low=0)}

DATA = {
    "name": text("digits", "the dataset (lgl_spl.data.KNOWN_DATASETS, or any name with npz_path)"),
    "npz_path": text("", "local arrays instead of tfds when set"),
    "data_dir": text("", "tfds data_dir ('' = tfds's default)"),
    "train_limit": integer(0, "0 = all; else the first N after a seeded shuffle", low=0),
    "test_limit": integer(0, "0 = all; else N test examples, the same for every run", low=0),
    "val_fraction": number(0.0, "carved from train; model selection never looks at test",
                           low=0.0, high=1.0),
    "label_noise": number(0.0, "fraction of training labels flipped (never val or test)",
                          low=0.0, high=1.0),
    "label_noise_type": choice("symmetric", "symmetric: to any other class; pair: c -> c+1",
                               ("symmetric", "pair")),
    "toy_layout": text("separable", "the 2-D Gaussians' layout (toy)"),
    "svhn_extra": flag(False, "SVHN: add the extra split to train"),
    "augment": choice("default", "the paper's for this dataset | none | crop_flip",
                      ("default", "none", "crop_flip", True, False)),
    "path": text("", "folder: DIR holding train/<class>/*, test/<class>/* (val/ optional)"),
    "in_memory_limit_mb": number(2048, "folder: decode into memory up to this; else stream",
                                 low=0.0),
    "image_size": integer(0, "imagenet, folder: side length (0: imagenet 224, folder its own)",
                          low=0),
    "num_workers": integer(-1, "host-decoded sources: decoding processes (-1: cores − 2; "
                           "0: threads)", low=-1),
    "prefetch": integer(0, "host-decoded sources: batches decoded ahead (0: auto)", low=0),
    "chunk": integer(64, "host-decoded sources: images per decoding work item", low=1),
}  # fmt: skip

MODEL = {
    "name": text("lenet", "the student network (lgl_spl.models.MODELS)"),
    "width": number(1.0, "channel multiplier", low=0.0, low_open=True),
    "kwargs": block("further keyword arguments of the model's constructor"),
}

TRAIN = {
    # Run length: num_epochs (passes over the training set) when > 0, else num_steps. For
    # `lgl` it is the baseline's run; method.budget turns it into LGL's (train.run_length).
    "num_steps": integer(1000, "student updates (when num_epochs is 0)", low=0),
    "num_epochs": number(0.0, "passes over the training set; replaces num_steps when > 0",
                         low=0.0),
    "batch_size": integer(128, "the global batch", low=1),
    "eval_every": integer(200, "steps between evaluations", low=0),
    "eval_every_epochs": number(0.0, "when > 0, replaces eval_every", low=0.0),
    "eval_batch_size": integer(1000, "examples per evaluation batch", low=1),
    "num_devices": integer(0, "devices to use (0: every device of every process)", low=0),
    "log_every": integer(100, "steps between log lines", low=1),
    "checkpoint_every": integer(0, "steps between checkpoints (0: at every evaluation)", low=0),
    "eval_train_loss": flag(False, "also log full_train_loss: every example, every class"),
    "optimizer": choice("sgd", "the optimiser", ("sgd", "adam")),
    "learning_rate": number(0.1, "the base learning rate", low=0.0, low_open=True),
    "momentum": number(0.9, "SGD momentum", low=0.0, high=1.0),
    "nesterov": flag(False, "Nesterov momentum"),
    "weight_decay": number(5e-4, "L2 weight decay (added to the gradient)", low=0.0),
    "lr_schedule": choice("constant", "constant | piecewise | exponential | cosine",
                          ("constant", "piecewise", "exponential", "cosine")),
    "lr_milestones": sequence((), "piecewise: fractions of the run (0.3 = 30 % of the way)"),
    "lr_boundaries": sequence((), "piecewise: steps (used when lr_milestones is empty)"),
    "lr_decay_factor": number(0.1, "piecewise: the factor at each boundary", low=0.0),
    "lr_decay_epochs": number(0.0, "exponential: decay every this many epochs (when > 0)",
                              low=0.0),
    "lr_decay_steps": integer(0, "exponential: every this many steps; cosine: over them "
                              "(0: the run)", low=0),
    "lr_decay_rate": number(1.0, "exponential: the factor at each decay", low=0.0),
    "compute_dtype": choice("float32", "activations' dtype (parameters and optimiser stay "
                            "float32)", ("float32", "bfloat16")),
    "compilation_cache": text("auto", "compiled programs kept across runs: auto "
                              "($JAX_COMPILATION_CACHE_DIR, else ~/.cache/lgl_spl/xla), off, "
                              "or a directory (lgl_spl/compile_cache.py)"),
}  # fmt: skip

BLOCKS = {"data": DATA, "model": MODEL, "train": TRAIN}


def flatten(cfg, prefix: str = "") -> dict[str, Any]:
    """``{"train.num_steps": 1000, …}``: the config as flat JSON-able keys (tuples as lists)."""
    out = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if hasattr(value, "items"):
            out.update(flatten(value, name + "."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out
