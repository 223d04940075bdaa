"""Data sources, validation, splits and on-device augmentation."""

import time

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lgl_spl import data
from lgl_spl.errors import ConfigError, DatasetUnavailableError


def cfg(**kw):
    c = ml_collections.ConfigDict(
        dict(
            name="digits",
            npz_path="",
            data_dir="",
            train_limit=0,
            test_limit=0,
            val_fraction=0.0,
            label_noise=0.0,
            label_noise_type="symmetric",
            toy_layout="separable",
            svhn_extra=False,
            image_size=0,
        )
    )
    c.update(kw)
    return c


def test_digits():
    d = data.load(cfg(), seed=0)
    chex.assert_shape(d.x_train, (1438, 8, 8, 1))
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int32
    assert len(d.y_test) == 359 and d.num_classes == 10
    assert np.bincount(d.y_test).min() >= 35  # stratified
    d2 = data.load(cfg(), seed=0)
    np.testing.assert_array_equal(d.x_train, d2.x_train)


@pytest.mark.parametrize("layout", ["separable", "overlapping"])
def test_toy(layout):
    d = data.load(cfg(name="toy", toy_layout=layout), seed=0)
    chex.assert_shape(d.x_train, (3000, 2))
    means = np.stack([d.x_train[d.y_train == c].mean(0) for c in range(3)])
    gap = min(np.linalg.norm(means[i] - means[j]) for i in range(3) for j in range(i))
    assert (gap > 5) if layout == "separable" else (gap < 2.5)


def write_npz(path, **override):
    rng = np.random.default_rng(0)
    arrays = dict(
        x_train=rng.integers(0, 255, (20, 6, 6), dtype=np.uint8),
        y_train=rng.integers(0, 3, 20).astype(np.uint8),
        x_test=rng.integers(0, 255, (8, 6, 6), dtype=np.uint8),
        y_test=rng.integers(0, 3, 8).astype(np.uint8),
        label_names=np.array(["a", "b", "c"]),
    )
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return str(path)


def test_npz_round_trip(tmp_path):
    d = data.load(cfg(name="mine", npz_path=write_npz(tmp_path / "a.npz")), seed=0)
    chex.assert_shape(d.x_train, (20, 6, 6, 1))
    assert d.label_names == ("a", "b", "c") and d.num_classes == 3


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (dict(y_test=None), "missing the keys"),
        (dict(x_train=np.zeros((20, 6, 6), np.float32)), "must be uint8"),
        (dict(y_train=np.full(20, 5, np.uint8)), "outside"),
        (dict(y_train=np.zeros(19, np.uint8)), "has 20 examples but y_train has 19"),
        (dict(x_test=np.zeros((0, 6, 6), np.uint8), y_test=np.zeros(0, np.uint8)), "empty"),
    ],
)
def test_npz_validation(tmp_path, override, message):
    path = write_npz(tmp_path / "bad.npz", **override)
    with pytest.raises(ConfigError, match=message):
        data.load(cfg(name="mine", npz_path=path), seed=0)


def test_npz_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        data.load(cfg(npz_path=str(tmp_path / "none.npz")), seed=0)


def test_limit_validation_split_and_noise():
    full = data.load(cfg(), seed=0)
    d = data.load(cfg(train_limit=500, val_fraction=0.2), seed=0)
    assert len(d.y_train) == 400 and len(d.y_val) == 100
    noisy = data.load(cfg(label_noise=0.1), seed=3)
    clean = data.load(cfg(), seed=3)
    changed = np.mean(noisy.y_train != clean.y_train)
    assert changed == pytest.approx(0.1, abs=1 / len(full.y_train))
    np.testing.assert_array_equal(noisy.x_train, clean.x_train)


@pytest.mark.parametrize("kind", ["symmetric", "pair"])
def test_label_noise_flips_training_labels_only(kind):
    """Exactly round(0.4 N) training labels change, each to another class (pair: c -> c+1);
    the flipped mask is exposed; validation and test labels are untouched."""
    clean = data.load(cfg(val_fraction=0.2), seed=5)
    noisy = data.load(cfg(val_fraction=0.2, label_noise=0.4, label_noise_type=kind), seed=5)
    flipped = noisy.noisy
    assert flipped.sum() == round(0.4 * len(clean.y_train))
    np.testing.assert_array_equal(noisy.y_train_clean, clean.y_train)
    np.testing.assert_array_equal(noisy.y_train[~flipped], clean.y_train[~flipped])
    assert np.all(noisy.y_train[flipped] != clean.y_train[flipped])
    np.testing.assert_array_equal(noisy.y_val, clean.y_val)
    np.testing.assert_array_equal(noisy.y_test, clean.y_test)
    if kind == "pair":
        np.testing.assert_array_equal(noisy.y_train[flipped], (clean.y_train[flipped] + 1) % 10)
    else:  # uniform over the other nine classes: every offset appears
        offsets = (noisy.y_train[flipped] - clean.y_train[flipped]) % 10
        assert set(offsets.tolist()) == set(range(1, 10))
    assert clean.noisy is None
    with pytest.raises(ConfigError, match="label_noise_type must be one of"):
        data.load(cfg(label_noise=0.1, label_noise_type="asymmetric"), seed=0)


def test_test_limit_is_one_fixed_subset_for_every_seed(tmp_path):
    rng = np.random.default_rng(0)
    path = str(tmp_path / "d.npz")
    np.savez(
        path,
        x_train=rng.integers(0, 256, (50, 4, 4), dtype=np.uint8),
        y_train=np.arange(50) % 5,
        x_test=np.arange(250, dtype=np.uint8).reshape(250, 1, 1).repeat(4, 1).repeat(4, 2),
        y_test=np.arange(250) % 5,
    )
    full = data.load(cfg(name="mine", npz_path=path), seed=0)
    a = data.load(cfg(name="mine", npz_path=path, test_limit=100), seed=0)
    b = data.load(cfg(name="mine", npz_path=path, test_limit=100, train_limit=20), seed=7)
    assert len(a.y_test) == 100 and len(full.y_test) == 250
    np.testing.assert_array_equal(a.x_test, b.x_test)  # the same subset whatever the run
    first = a.x_test[:, 0, 0, 0]
    assert first.max() > 150  # drawn at random, not the first 100
    np.testing.assert_array_equal(a.y_test, full.y_test[first])


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        data.load(cfg(name="nope"), seed=0)


def test_tfds_not_prepared_fails_fast(tmp_path):
    t0 = time.time()
    with pytest.raises(DatasetUnavailableError, match="not prepared.*tfds build cifar10.*tf"):
        data.load(cfg(name="cifar10", data_dir=str(tmp_path)), seed=0)
    assert time.time() - t0 < 10


def test_tfds_mock_in_memory_and_svhn_extra():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        d = data.load(cfg(name="cifar10"), seed=0)
        chex.assert_shape(d.x_train, (12, 32, 32, 3))
        assert d.num_classes == 10 and len(d.label_names) == 10  # from the tfds metadata
        s = data.load(cfg(name="svhn_cropped", svhn_extra=True), seed=0)
        assert len(s.y_train) == 24


def test_imagenet_random_access_source():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=10):
        d = data.load(cfg(name="imagenet2012", image_size=16, train_limit=6), seed=0)
        assert d.train_source is not None and len(d.y_train) == 6
        batch = d.train_source.gather(np.array([0, 5, 5]))
        chex.assert_shape(batch, (3, 16, 16, 3))
        assert batch.dtype == np.uint8 and d.num_classes == 1000


def images(n=4, h=8, w=8, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8))


def test_augment_eval_is_exact_normalisation():
    spec = data.default_augment("cifar10")
    x = images()
    out = data.augment(jax.random.key(0), x, spec, train=False)
    ref = (np.asarray(x, np.float32) / 255 - np.array(spec.mean)) / np.array(spec.std)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    chex.assert_type(out, jnp.float32)


def test_augment_train_changes_images_deterministically():
    spec = data.default_augment("fashion_mnist")
    x = images(c=1)
    a = data.augment(jax.random.key(1), x, spec, train=True)
    b = data.augment(jax.random.key(1), x, spec, train=True)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, data.augment(jax.random.key(1), x, spec, train=False))


def test_flips_are_exact():
    spec = data.AugmentSpec(hflip=True)
    x = images(n=64)
    out = np.asarray(data.augment(jax.random.key(2), x, spec, train=True))
    ref = np.asarray(x, np.float32) / 255
    flipped = [np.allclose(o, r[:, ::-1]) for o, r in zip(out, ref, strict=True)]
    same = [np.allclose(o, r) for o, r in zip(out, ref, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True)) and 10 < sum(flipped) < 54


def test_augment_compiles_once():
    spec = data.default_augment("cifar10")
    f = jax.jit(chex.assert_max_traces(lambda k, x: data.augment(k, x, spec, train=True), n=1))
    for s in range(3):
        f(jax.random.key(s), images(seed=s))


def test_float_inputs_pass_through():
    x = jnp.ones((5, 2), jnp.float32)
    np.testing.assert_array_equal(
        data.augment(jax.random.key(0), x, data.AugmentSpec(), train=True), x
    )
