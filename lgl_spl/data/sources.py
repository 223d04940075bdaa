"""Raw train/test arrays from each source: offline (digits, toy, npz) and tfds."""

from __future__ import annotations

import importlib.util
import os
import zipfile
from typing import NamedTuple

import numpy as np

from lgl_spl.errors import ConfigError, DatasetUnavailableError

TFDS_NAMES = ("cifar10", "cifar100", "fashion_mnist", "svhn_cropped", "mnist")
OFFLINE_NAMES = ("digits", "toy")


class Raw(NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    label_names: tuple[str, ...]


def _nhwc(x: np.ndarray) -> np.ndarray:
    return x[..., None] if x.ndim == 3 else x


def load_digits(*, seed: int = 0, test_fraction: float = 0.2) -> Raw:
    """scikit-learn's bundled 8×8 digits (1,797 images), a seeded stratified split."""
    images, target = _digits_arrays()
    x = np.round(images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = target.astype(np.int32)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[: int(round(len(idx) * test_fraction))]] = True
    names = tuple(str(i) for i in range(10))
    return Raw(x[~test], y[~test], x[test], y[test], names)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 images (float 0..16, [N, 8, 8]) and labels, as ``sklearn.datasets.load_digits``.

    Read straight from the CSV that scikit-learn ships: importing scikit-learn costs more
    than a small run's whole start-up. ``tests/data`` checks the two are equal.
    """
    spec = importlib.util.find_spec("sklearn")
    roots = list(spec.submodule_search_locations or []) if spec else []
    csv = next(
        (
            p
            for p in (os.path.join(r, "datasets", "data", "digits.csv.gz") for r in roots)
            if os.path.isfile(p)
        ),
        None,
    )
    if csv is None:  # an unusual install: let scikit-learn find its data
        from sklearn.datasets import load_digits as sk_digits

        d = sk_digits()
        return d.images, d.target
    import gzip

    with gzip.open(csv, mode="rt", encoding="utf-8") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


_TOY_MEANS = {
    "separable": np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.2]]),
    "overlapping": np.array([[0.0, 0.0], [1.5, 0.0], [0.75, 1.3]]),
}


def load_toy(
    *, layout: str = "separable", seed: int = 0, num_train: int = 1000, num_test: int = 300
) -> Raw:
    """LGL §5.1: three 2-D Gaussians with identity covariance (``num_*`` per class)."""
    if layout not in _TOY_MEANS:
        raise ConfigError(f"unknown toy layout {layout!r}; choose one of {sorted(_TOY_MEANS)}")
    rng = np.random.default_rng(seed)
    means = _TOY_MEANS[layout]

    def draw(per_class):
        y = np.repeat(np.arange(3, dtype=np.int32), per_class)
        x = (means[y] + rng.normal(size=(len(y), 2))).astype(np.float32)
        order = rng.permutation(len(y))
        return x[order], y[order]

    x_train, y_train = draw(num_train)
    x_test, y_test = draw(num_test)
    return Raw(x_train, y_train, x_test, y_test, ("class 0", "class 1", "class 2"))


def load_npz(path: str) -> Raw:
    """Local arrays: x_train uint8 [N,H,W(,C)], y_train int [N], x_test, y_test, label_names."""
    if not os.path.isfile(path):
        raise ConfigError(f"npz file {path!r} does not exist")
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ConfigError(f"npz file {path!r} cannot be read: {e}") from None
    if not isinstance(f, np.lib.npyio.NpzFile):  # a bare .npy array
        raise ConfigError(
            f"npz file {path!r} holds a single array, not the arrays x_train, y_train, "
            "x_test, y_test (save them with np.savez)"
        )
    with f:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
        if missing:
            raise ConfigError(f"npz file {path!r} is missing the keys {missing}")
        try:  # members are read lazily: a damaged archive or object arrays fail here
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            names = tuple(str(n) for n in f["label_names"]) if "label_names" in f.files else None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ConfigError(f"npz file {path!r} cannot be read: {e}") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8:
            raise ConfigError(f"npz {path!r}: x_{split} must be uint8 images, got {x.dtype}")
        if x.ndim not in (3, 4):
            raise ConfigError(
                f"npz {path!r}: x_{split} must be [N,H,W] or [N,H,W,C], got {x.shape}"
            )
        if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
            raise ConfigError(f"npz {path!r}: y_{split} must be a 1-D integer array, got {y.dtype}")
        if len(x) != len(y):
            raise ConfigError(
                f"npz {path!r}: x_{split} has {len(x)} examples but y_{split} has {len(y)}"
            )
        if len(y) == 0:
            raise ConfigError(f"npz {path!r}: the {split} split is empty")
    num_classes = (
        len(names) if names else int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
    )
    for split in ("train", "test"):
        y = arrays[f"y_{split}"]
        if y.min() < 0 or y.max() >= num_classes:
            raise ConfigError(
                f"npz {path!r}: y_{split} has labels outside [0, {num_classes}) "
                f"(min {y.min()}, max {y.max()})"
            )
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise ConfigError(f"npz {path!r}: train and test images have different shapes")
    names = names or tuple(str(i) for i in range(num_classes))
    return Raw(
        _nhwc(arrays["x_train"]),
        arrays["y_train"].astype(np.int32),
        _nhwc(arrays["x_test"]),
        arrays["y_test"].astype(np.int32),
        names,
    )


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - it is a dependency
        raise ConfigError(
            f"tensorflow-datasets cannot be imported ({e}); pip install tensorflow-datasets"
        ) from None
    return tfds


def tfds_source(name: str, split: str, data_dir: str = "", *, decoders=None):
    """A random-access tfds source; fails in seconds, never downloads.

    ``decoders`` is passed to ``tfds.data_source`` (e.g. to skip image decoding).
    """
    tfds = _import_tfds()
    kwargs = {"data_dir": data_dir} if data_dir else {}
    where = data_dir or "tfds's default data_dir (~/tensorflow_datasets)"
    try:
        return tfds.data_source(name, split=split, download=False, decoders=decoders, **kwargs)
    except Exception as e:  # noqa: BLE001 - any failure to open is reported below
        error = e
    try:
        prepared = tfds.builder(name, **kwargs).is_prepared()
    except Exception:  # noqa: BLE001
        prepared = False
    if not prepared:
        raise DatasetUnavailableError(
            f"dataset {name!r} is not prepared in {where} and this machine cannot download it; "
            f"on a machine with internet run: pip install 'lgl_spl[tf]' && tfds build {name} "
            f"--file_format=array_record{' --data_dir ' + data_dir if data_dir else ''} "
            "(TensorFlow, the `tf` extra, is needed only to prepare a dataset), then copy it here"
        )
    rebuild = f"tfds build {name} --file_format=array_record" + (
        f" --data_dir {data_dir}" if data_dir else ""
    )
    if isinstance(error, ImportError) or "tfrecord" in str(error).lower():
        # Prepared as tfrecord files: only TensorFlow reads those, and only sequentially.
        have_tf = importlib.util.find_spec("tensorflow") is not None
        raise DatasetUnavailableError(
            f"dataset {name!r} in {where} is stored in a format that needs TensorFlow "
            f"(tfrecord){'' if have_tf else ', and TensorFlow is not installed'}; this project "
            f"reads array_record files: pip install 'lgl_spl[tf]' && {rebuild}"
        )
    raise DatasetUnavailableError(
        f"dataset {name!r} in {where} cannot be opened for random access "
        f"({type(error).__name__}: {_first_line(error)}); rebuild it with: {rebuild}"
    )


def _first_line(error: BaseException) -> str:
    """A library's (often multi-line) message, cut to one line for the one-line report."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(error).__name__


def fetch(source, keys: list[int]) -> list[dict]:
    """Records ``keys`` of a tfds data source, batched where the source supports it."""
    if not keys:
        return []
    try:
        return list(source.__getitems__(keys))
    except TypeError:  # tfds.testing.mock_data's sources only index one record at a time
        return [source[k] for k in keys]


def _read_all(source) -> tuple[np.ndarray, np.ndarray]:
    items = fetch(source, list(range(len(source))))
    x = np.stack([np.asarray(it["image"], np.uint8) for it in items])
    y = np.asarray([int(it["label"]) for it in items], np.int32)
    return _nhwc(x), y


def load_tfds(name: str, *, data_dir: str = "", svhn_extra: bool = False) -> Raw:
    """A tfds dataset read once into uint8 arrays (no TensorFlow needed to read)."""
    train_src = tfds_source(name, "train", data_dir)
    x_train, y_train = _read_all(train_src)
    if name == "svhn_cropped" and svhn_extra:  # SPL-ADVisE trains on train + extra
        x_extra, y_extra = _read_all(tfds_source(name, "extra", data_dir))
        x_train = np.concatenate([x_train, x_extra])
        y_train = np.concatenate([y_train, y_extra])
    x_test, y_test = _read_all(tfds_source(name, "test", data_dir))
    try:
        names = tuple(train_src.dataset_info.features["label"].names)
    except (AttributeError, KeyError, TypeError):
        names = tuple(str(i) for i in range(int(max(y_train.max(), y_test.max())) + 1))
    return Raw(x_train, y_train, x_test, y_test, names)
