"""``load(cfg)``: one dataset, once, with the run's limit, validation split and label noise."""

from __future__ import annotations

import logging

import numpy as np

from lgl_spl import settings
from lgl_spl.data import folder
from lgl_spl.data.dataset import Dataset
from lgl_spl.data.random_access import RandomAccessSource
from lgl_spl.data.sources import (
    OFFLINE_NAMES,
    TFDS_NAMES,
    Raw,
    load_digits,
    load_npz,
    load_tfds,
    load_toy,
)
from lgl_spl.errors import ConfigError

HOST_NAMES = ("imagenet2012",)
FOLDER = "folder"  # the user's own images in class folders (data.path)
KNOWN_DATASETS = OFFLINE_NAMES + TFDS_NAMES + HOST_NAMES + (FOLDER,)


def _raw(cfg, seed: int) -> Raw:
    name = cfg.name
    if cfg.npz_path:
        return load_npz(cfg.npz_path)
    if name == "digits":
        return load_digits(seed=seed)
    if name == "toy":
        return load_toy(layout=cfg.toy_layout, seed=seed)
    if name in TFDS_NAMES:
        return load_tfds(name, data_dir=cfg.data_dir, svhn_extra=cfg.svhn_extra)
    raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(KNOWN_DATASETS)}")


NOISE_KINDS = ("symmetric", "pair")


def add_label_noise(
    labels: np.ndarray, fraction: float, num_classes: int, seed: int, kind: str = "symmetric"
) -> np.ndarray:
    """Flip exactly round(fraction · N) labels, chosen uniformly at random.

    ``symmetric``: each flipped label becomes one of the *other* classes, uniformly;
    ``pair``: class c becomes (c + 1) mod C (a fixed confusion, the harder noise).
    """
    if kind not in NOISE_KINDS:
        raise ConfigError(
            f"data.label_noise_type must be one of {', '.join(NOISE_KINDS)}, got {kind!r}"
        )
    rng = np.random.default_rng([seed, 7])
    labels = labels.copy()
    flip = rng.choice(len(labels), int(round(fraction * len(labels))), replace=False)
    if kind == "symmetric":
        offset = rng.integers(1, num_classes, len(flip))
    else:
        offset = np.ones(len(flip), labels.dtype)
    labels[flip] = (labels[flip] + offset) % num_classes
    return labels


def _split(x, y, cfg, seed: int, num_classes: int):
    """train_limit (after a seeded shuffle), then the validation split, then label noise.

    Noise touches the training labels only: the validation split is carved off first, and
    test labels are never read here. Returns the clean training labels too.
    """
    order = np.random.default_rng([seed, 1]).permutation(len(y))
    limit = int(cfg.train_limit)
    if limit:
        order = order[:limit]
    x, y = x[order], y[order]
    n_val = int(round(float(cfg.val_fraction) * len(y)))
    x_val, y_val, x, y = x[:n_val], y[:n_val], x[n_val:], y[n_val:]
    clean = y
    noise = float(cfg.label_noise)
    if noise:
        kind = cfg.label_noise_type
        y = add_label_noise(y, noise, num_classes, seed, kind)
    return x, y, x_val, y_val, clean


def _test_subset(x, y, limit: int):
    """``limit`` test examples drawn at random, the same for every run and seed (0 = all)."""
    if not limit or limit >= len(y):
        return x, y
    keep = np.sort(np.random.default_rng([0, 2]).permutation(len(y))[:limit])
    return x[keep], y[keep]


def load(cfg, *, seed: int = 0) -> Dataset:
    """Load ``cfg.name`` (or ``cfg.npz_path``) into a ``Dataset``.

    ``cfg`` is a config's ``data`` block; keys it lacks take their declared defaults
    (``lgl_spl.settings.DATA``).
    """
    cfg = settings.complete(cfg, settings.DATA)
    if cfg.name in HOST_NAMES and not cfg.npz_path:
        return _load_host(cfg, seed)
    if cfg.name == FOLDER and not cfg.npz_path:
        return _load_folder(cfg, seed)
    raw = _raw(cfg, seed)
    num_classes = len(raw.label_names)
    x, y, x_val, y_val, clean = _split(raw.x_train, raw.y_train, cfg, seed, num_classes)
    if len(y) == 0:
        raise ConfigError(f"dataset {cfg.name!r}: no training examples left after the splits")
    x_test, y_test = _test_subset(raw.x_test, raw.y_test, int(cfg.test_limit))
    return Dataset(
        x_train=x,
        y_train=y.astype(np.int32),
        x_test=x_test,
        y_test=y_test.astype(np.int32),
        x_val=x_val,
        y_val=y_val.astype(np.int32),
        num_classes=num_classes,
        label_names=raw.label_names,
        name=cfg.name,
        y_train_clean=clean.astype(np.int32) if float(cfg.label_noise) else None,
    )


def _load_host(cfg, seed: int) -> Dataset:
    """ImageNet: labels read without decoding an image; images decoded on the host per batch."""
    size = int(cfg.image_size) or 224
    train = RandomAccessSource(cfg.name, "train", data_dir=cfg.data_dir, image_size=size)
    test = RandomAccessSource(cfg.name, "validation", data_dir=cfg.data_dir, image_size=size)
    order = np.random.default_rng([seed, 1]).permutation(len(train))
    limit = int(cfg.train_limit)
    if limit:
        order = order[:limit]
    train = train.subset(np.sort(order))
    empty = np.zeros((0, size, size, 3), np.uint8)
    return Dataset(
        x_train=empty,
        y_train=train.labels,
        x_test=empty,
        y_test=test.labels,
        x_val=empty,
        y_val=np.zeros(0, np.int32),
        num_classes=train.num_classes,
        label_names=train.label_names,
        name=cfg.name,
        train_source=train,
        test_source=test,
    )


def _load_folder(cfg, seed: int) -> Dataset:
    """Class folders (``lgl_spl.data.folder``), split as every dataset is, then decoded.

    ``train_limit``, the validation split and label noise are applied to positions of the
    training files (a ``val/`` folder is the validation split instead, never both),
    ``test_limit`` to positions of the test files. Only the examples the run uses are
    decoded: into memory when they fit in ``data.in_memory_limit_mb``, else they are
    streamed (the same examples in the same places either way).
    """
    sources = folder.open_splits(cfg)
    if "val" in sources and float(cfg.val_fraction):
        raise ConfigError(
            f"data.path {cfg.path!r} holds a val/ split and data.val_fraction is "
            f"{cfg.val_fraction}: use one or the other (set data.val_fraction=0)"
        )
    train_all, test_all = sources["train"], sources["test"]
    num_classes = train_all.num_classes
    positions = np.arange(len(train_all))
    train, y, val, y_val, clean = _split(positions, train_all.labels, cfg, seed, num_classes)
    if len(y) == 0:
        raise ConfigError(f"data.path {cfg.path!r}: no training examples left after the splits")
    test, y_test = _test_subset(np.arange(len(test_all)), test_all.labels, int(cfg.test_limit))
    if "val" in sources:
        val, y_val = np.arange(len(sources["val"])), sources["val"].labels
    views = {
        "train": train_all.subset(train),
        "val": sources.get("val", train_all).subset(val),
        "test": test_all.subset(test),
    }
    decoded_mb = sum(v.nbytes for v in views.values()) / 2**20
    limit_mb = float(cfg.in_memory_limit_mb)
    streamed = decoded_mb > limit_mb
    shape = f"{train_all.image_size}×{train_all.image_size}×{train_all.channels}"
    logging.getLogger(__name__).info(
        "folder %s: %d classes, %d train / %d val / %d test images at %s, %s (%.0f MiB "
        "decoded; data.in_memory_limit_mb=%g)",
        train_all.files.root, num_classes, len(y), len(y_val), len(y_test), shape,
        "streamed from disk" if streamed else "decoded into memory", decoded_mb, limit_mb,
    )  # fmt: skip
    noise = float(cfg.label_noise)
    common = dict(
        y_train=y.astype(np.int32),
        y_test=y_test.astype(np.int32),
        y_val=y_val.astype(np.int32),
        num_classes=num_classes,
        label_names=train_all.label_names,
        name=cfg.name,
        y_train_clean=clean.astype(np.int32) if noise else None,
    )
    if not streamed:
        x = {split: view.read_all() for split, view in views.items()}
        return Dataset(x_train=x["train"], x_test=x["test"], x_val=x["val"], **common)
    empty = np.zeros((0, train_all.image_size, train_all.image_size, train_all.channels), np.uint8)
    return Dataset(
        x_train=empty,
        x_test=empty,
        x_val=empty,
        train_source=views["train"],
        test_source=views["test"],
        val_source=views["val"] if len(val) else None,
        **common,
    )
