"""Every model: output shapes, parameter counts, train/eval behaviour."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lgl_spl.errors import ConfigError
from lgl_spl.models import MODELS, get_model

# name -> (input shape, width for the apply test)
CASES = {
    "lenet": ((28, 28, 1), 1.0),
    "lenet_embed": ((28, 28, 1), 1.0),
    "vgg16": ((32, 32, 3), 0.125),
    "vgg16_embed": ((32, 32, 3), 0.125),
    "resnet18": ((32, 32, 3), 0.125),
    "resnet50": ((64, 64, 3), 0.125),
    "wrn": ((32, 32, 3), 0.1),
    "wrn16_8": ((32, 32, 3), 0.1),
    "wrn28_10": ((32, 32, 3), 0.05),
    "mlp1": ((2,), 1.0),
    "mlp3": ((2,), 1.0),
}


def key(seed: int) -> jax.Array:
    """A PRNG key for the tests that run a model.

    XLA spends seconds compiling each threefry draw, once per distinct parameter
    shape, which made these tests the slowest of the suite; the models, not the
    key implementation, are under test, so they use XLA's RngBitGenerator.
    """
    return jax.random.key(seed, impl="rbg")


def param_count(name, num_classes, shape, **kw):
    model = get_model(name, num_classes=num_classes, **kw)
    variables = jax.eval_shape(
        lambda: model.init(
            {"params": jax.random.key(0), "dropout": jax.random.key(1)},
            jnp.zeros((1, *shape)),
            train=False,
        )
    )
    return sum(x.size for x in jax.tree.leaves(variables["params"]))


def test_every_registered_model_is_tested():
    assert set(CASES) == set(MODELS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes_in_train_and_eval(name):
    shape, width = CASES[name]
    model = (
        get_model(name, num_classes=7, width=width, embed_dim=16)
        if "embed" in name
        else (get_model(name, num_classes=7, width=width))
    )
    x = jax.random.normal(key(0), (3, *shape))
    variables = model.init({"params": key(1), "dropout": key(2)}, x, train=False)
    logits, features = model.apply(variables, x, train=False)
    out_dim = 16 if "embed" in name else 7
    chex.assert_shape(logits, (3, out_dim))
    chex.assert_rank(features, 2)
    chex.assert_type([logits, features], jnp.float32)
    (logits_t, _), updates = model.apply(
        variables, x, train=True, rngs={"dropout": key(3)}, mutable=["batch_stats"]
    )
    chex.assert_shape(logits_t, (3, out_dim))
    chex.assert_tree_all_finite((logits, features, logits_t))
    if "batch_stats" in variables:  # BatchNorm statistics move in train mode
        before = jax.tree.leaves(variables["batch_stats"])
        after = jax.tree.leaves(updates["batch_stats"])
        assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize(
    ("name", "classes", "shape", "expected", "tol"),
    [
        ("resnet18", 10, (32, 32, 3), 11.17e6, 0.02),
        ("wrn28_10", 100, (32, 32, 3), 36.5e6, 0.02),
        ("resnet50", 1000, (224, 224, 3), 25.6e6, 0.02),
        ("vgg16", 10, (32, 32, 3), 14.7e6, 0.03),
    ],
)
def test_parameter_counts(name, classes, shape, expected, tol):
    assert abs(param_count(name, classes, shape) - expected) / expected < tol


def test_width_multiplier_shrinks_models():
    assert param_count("resnet18", 10, (32, 32, 3), width=0.25) < 0.1 * 11.17e6


def test_dropout_only_in_train_mode():
    model = get_model("wrn", num_classes=5, width=0.25, depth=10, widen=1, dropout=0.5)
    x = jax.random.normal(key(0), (2, 8, 8, 3))
    v = model.init({"params": key(1)}, x, train=False)
    run = lambda k: model.apply(
        v, x, train=True, rngs={"dropout": key(k)}, mutable=["batch_stats"]
    )[0][0]
    assert not np.allclose(run(1), run(2))
    np.testing.assert_array_equal(
        model.apply(v, x, train=False)[0], model.apply(v, x, train=False)[0]
    )


def test_unknown_model_and_bad_kwargs():
    with pytest.raises(ConfigError, match="unknown model 'nope'.*resnet18"):
        get_model("nope", num_classes=3)
    with pytest.raises(ConfigError, match="bad model.kwargs"):
        get_model("lenet", num_classes=3, depth=5)
