"""Every model: output shapes, parameter counts, train/eval behaviour."""

import os

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lgl_spl.errors import ConfigError
from lgl_spl.models import MODELS, get_model
from lgl_spl.models.resnet import _conv
from lgl_spl.models.vgg import adaptive_avg_pool
from tests.helpers import REPO, load_config

# name -> (input shape, width for the apply test)
CASES = {
    "lenet": ((28, 28, 1), 1.0),
    "lenet_embed": ((28, 28, 1), 1.0),
    "vgg16": ((32, 32, 3), 0.125),
    "vgg16_embed": ((32, 32, 3), 0.125),
    # 32×32 leaves a 1×1 map before the 7×7 adaptive pool: the smallest input it takes.
    "vgg16_imagenet": ((32, 32, 3), 1 / 16),
    "resnet18": ((32, 32, 3), 0.125),
    "preact_resnet18": ((32, 32, 3), 0.125),
    "resnet50": ((64, 64, 3), 0.125),
    "resnet50_zero_init": ((64, 64, 3), 1 / 16),
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


# The deepest networks compile for seconds each: they run in the slow tier.
HEAVY = {"resnet50", "resnet50_zero_init", "preact_resnet18", "wrn16_8", "wrn28_10"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in sorted(CASES)]
)
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
    ("name", "classes", "shape", "expected"),
    [
        ("resnet18", 10, (32, 32, 3), 11_173_962),  # He et al. 2016, CIFAR form
        ("resnet50", 1000, (224, 224, 3), 25_557_032),  # torchvision
        ("resnet50_zero_init", 1000, (224, 224, 3), 25_557_032),
        ("vgg16_imagenet", 1000, (224, 224, 3), 138_357_544),  # torchvision, config D
        # The adaptive pool makes the classifier independent of the input size.
        ("vgg16_imagenet", 1000, (64, 48, 3), 138_357_544),
    ],
)
def test_published_parameter_counts(name, classes, shape, expected):
    assert param_count(name, classes, shape) == expected


@pytest.mark.parametrize(
    ("name", "classes", "shape", "expected", "tol"),
    [
        ("preact_resnet18", 10, (32, 32, 3), 11.17e6, 0.02),
        ("wrn28_10", 100, (32, 32, 3), 36.5e6, 0.02),
        ("vgg16", 10, (32, 32, 3), 14.7e6, 0.03),
    ],
)
def test_parameter_counts(name, classes, shape, expected, tol):
    assert abs(param_count(name, classes, shape) - expected) / expected < tol


def init_params(name, shape, width, num_classes=5):
    model = get_model(name, num_classes=num_classes, width=width)
    x = jnp.zeros((1, *shape))
    return model, model.init({"params": key(1), "dropout": key(2)}, x, train=False)


@pytest.mark.parametrize(("name", "last_scale"), [("resnet50", 1.0), ("resnet50_zero_init", 0.0)])
def test_resnet50_initialisation(name, last_scale):
    _, variables = init_params(name, (32, 32, 3), 1 / 16)
    params = variables["params"]
    blocks = [params[f"Bottleneck_{i}"] for i in range(16)]
    assert f"Bottleneck_{16}" not in params
    for block in blocks:
        # BatchNorm_2 closes the residual branch; BatchNorm_3 (if any) is the shortcut's.
        for bn, p in block.items():
            if bn.startswith("BatchNorm_"):
                np.testing.assert_array_equal(p["scale"], last_scale if bn == "BatchNorm_2" else 1)
                np.testing.assert_array_equal(p["bias"], 0)
    # The head as a fresh torch.nn.Linear: weight and bias uniform in ±1/sqrt(fan_in).
    head = params["head"]
    fan_in = head["kernel"].shape[0]
    assert fan_in == 4 * 32
    bound = 1 / np.sqrt(fan_in)
    for leaf in (head["kernel"], head["bias"]):
        assert np.all(np.abs(leaf) <= bound) and np.any(leaf != 0)
    assert np.std(head["kernel"]) == pytest.approx(bound / np.sqrt(3), rel=0.15)


def test_resnet50_downsamples_on_the_3x3_conv():
    """torchvision v1.5: the first block of stages 2-4 strides its 3×3 conv, not the 1×1."""
    model, variables = init_params("resnet50", (64, 64, 3), 1 / 16)
    _, state = model.apply(
        variables, jnp.zeros((1, 64, 64, 3)), train=False, capture_intermediates=True
    )
    first = state["intermediates"]["Bottleneck_3"]  # stage 2, block 1
    shape = lambda layer: first[layer]["__call__"][0].shape[1:3]
    assert shape("Conv_0") == (16, 16)  # 64 → 32 (stem) → 16 (max-pool)
    assert shape("Conv_1") == (8, 8)
    assert shape("Conv_3") == (8, 8)  # the shortcut's projection


def test_strided_conv_pads_as_pytorch():
    """A stride-2 3×3 conv is centred on even pixels (pad 1 each side), not odd ones ('SAME')."""
    conv = _conv(1, 3, 2, jnp.float32)
    centre = jnp.zeros((3, 3, 1, 1)).at[1, 1].set(1.0)
    x = jnp.arange(64.0).reshape(1, 8, 8, 1)
    out = conv.apply({"params": {"kernel": centre}}, x)
    np.testing.assert_array_equal(out, x[:, ::2, ::2])


def torch_adaptive_pool_reference(x, out):
    """PyTorch's AdaptiveAvgPool2d, written out cell by cell."""
    n, h, w, c = x.shape
    y = np.zeros((n, out, out, c))
    for i in range(out):
        for j in range(out):
            h0, h1 = (i * h) // out, -(-((i + 1) * h) // out)
            w0, w1 = (j * w) // out, -(-((j + 1) * w) // out)
            y[:, i, j] = x[:, h0:h1, w0:w1].mean(axis=(1, 2))
    return y


@pytest.mark.parametrize("size", [(14, 14), (10, 10), (9, 13), (3, 5), (1, 1)])
def test_adaptive_avg_pool_cuts_cells_as_pytorch(size):
    x = np.asarray(jax.random.normal(key(0), (2, *size, 3)))
    np.testing.assert_allclose(
        adaptive_avg_pool(jnp.asarray(x), (7, 7)),
        torch_adaptive_pool_reference(x, 7),
        rtol=1e-5,
        atol=1e-6,
    )


def test_adaptive_avg_pool_is_a_2x2_average_pool_on_14x14():
    x = jax.random.normal(key(0), (2, 14, 14, 3))
    pooled = adaptive_avg_pool(x, (7, 7))
    np.testing.assert_allclose(pooled, nn.avg_pool(x, (2, 2), (2, 2)), rtol=1e-6, atol=1e-7)
    assert adaptive_avg_pool(pooled, (7, 7)) is pooled  # 7×7 already: nothing to do


def test_vgg16_imagenet_initialisation_and_features():
    model, variables = init_params("vgg16_imagenet", (32, 32, 3), 1 / 16)
    params = variables["params"]
    assert "batch_stats" not in variables  # config D has no batch norm
    convs = [params[f"Conv_{i}"] for i in range(13)]
    assert "Conv_13" not in params
    for conv in convs:
        np.testing.assert_array_equal(conv["bias"], 0)
    fan_out = 9 * convs[-1]["kernel"].shape[-1]
    assert np.std(convs[-1]["kernel"]) == pytest.approx(np.sqrt(2 / fan_out), rel=0.1)
    assert [params[d]["kernel"].shape for d in ("Dense_0", "Dense_1", "head")] == [
        (7 * 7 * 32, 256),
        (256, 256),
        (256, 5),
    ]
    for dense in ("Dense_0", "Dense_1", "head"):
        np.testing.assert_array_equal(params[dense]["bias"], 0)
        assert np.std(params[dense]["kernel"]) == pytest.approx(0.01, rel=0.1)
    # features: the second 4096-d (×width) activation, after its ReLU, feeding the head
    # directly in eval mode (dropout off).
    x = jax.random.normal(key(3), (2, 32, 32, 3))
    logits, features = model.apply(variables, x, train=False)
    assert features.shape == (2, 256) and np.all(features >= 0)
    np.testing.assert_allclose(
        logits, features @ params["head"]["kernel"] + params["head"]["bias"], rtol=1e-5, atol=1e-6
    )
    train_logits, _ = model.apply(variables, x, train=True, rngs={"dropout": key(4)})
    assert not np.allclose(train_logits, logits)  # dropout before the head in train mode


def test_vgg16_imagenet_rejects_inputs_too_small_for_five_pools():
    model = get_model("vgg16_imagenet", num_classes=3, width=1 / 16)
    with pytest.raises(ConfigError, match="at least 32"):
        jax.eval_shape(
            lambda: model.init({"params": key(0)}, jnp.zeros((1, 16, 16, 3)), train=False)
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "shape"),
    [("resnet18", (16, 16, 3)), ("resnet50", (32, 32, 3)), ("vgg16_imagenet", (32, 32, 3))],
)
def test_bfloat16_compute_keeps_float32_parameters(name, shape):
    model = get_model(name, num_classes=4, width=1 / 16, compute_dtype="bfloat16")
    x = jax.random.normal(key(0), (2, *shape))
    variables = model.init({"params": key(1), "dropout": key(2)}, x, train=False)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    (logits, features), _ = model.apply(
        variables, x, train=True, rngs={"dropout": key(3)}, mutable=["batch_stats"]
    )
    chex.assert_type([logits, features], jnp.float32)
    chex.assert_tree_all_finite((logits, features))
    reference, _ = model.clone(dtype=jnp.float32).apply(variables, x, train=False)
    np.testing.assert_allclose(
        model.apply(variables, x, train=False)[0], reference, rtol=0.05, atol=0.05
    )


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


_ADVISE = ("advise", "spld", "random")  # SPL-ADVisE Table 1's rows


def test_paper_configs_use_the_papers_networks():
    """LGL: torchvision's VGG-16 / ResNet-50 on ImageNet, CIFAR VGG-16; SPL-ADVisE: ResNet-18."""
    expected = {"imagenet_vgg16_": "vgg16_imagenet", "imagenet_resnet50_": "resnet50"}
    expected |= {f"{d}_{m}": "resnet18" for d in ("cifar10", "fashion_mnist") for m in _ADVISE}
    expected |= {"cifar10_vgg16_": "vgg16", "cifar100_vgg16_": "vgg16"}
    names = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, "configs")) if f.endswith(".py"))
    checked = 0
    for name in names:
        for prefix, model in expected.items():
            if name == prefix or (prefix.endswith("_") and name.startswith(prefix)):
                assert load_config(name).model.name == model, name
                checked += 1
    assert checked == 6 + 6 + 18


def test_classifier_found_without_its_name_and_rows_drawn_like_the_model():
    """LGL's re-initialisation finds the classifier by shape (last [F, C] layer) and draws
    new rows as the model's own init does; rows of other classes are left alone."""
    from lgl_spl.models import classifier_path, head_init, reinit_classes

    params = {
        "Dense_0": {"kernel": jnp.ones((8, 5)), "bias": jnp.ones(5)},  # C outputs, not last
        "body": {"Dense_1": {"kernel": jnp.ones((5, 6)), "bias": jnp.ones(6)}},
        "classifier": {"kernel": jnp.ones((6, 5)), "bias": jnp.ones(5)},
    }
    path = classifier_path(params, 5)
    assert path == ("classifier",)
    classes = jnp.array([False, True, False, False, True])
    for name, bias_zero in (("lenet", True), ("resnet50", False), ("vgg16_imagenet", True)):
        out = reinit_classes(params, path, classes, jax.random.key(0), head_init(name))
        kernel, bias = (
            np.asarray(out["classifier"]["kernel"]),
            np.asarray(out["classifier"]["bias"]),
        )
        np.testing.assert_array_equal(kernel[:, [0, 2, 3]], 1.0)
        np.testing.assert_array_equal(bias[[0, 2, 3]], 1.0)
        assert np.all(kernel[:, [1, 4]] != 1.0)
        assert np.all(bias[[1, 4]] == 0.0) == bias_zero
        if name == "resnet50":  # U(±1/√6)
            assert np.all(np.abs(kernel[:, [1, 4]]) <= 1 / np.sqrt(6))
        if name == "vgg16_imagenet":  # N(0, 0.01²)
            assert np.all(np.abs(kernel[:, [1, 4]]) < 0.06)
        assert out["Dense_0"] is params["Dense_0"]
    with pytest.raises(ValueError, match="no classifier layer with 7 outputs"):
        classifier_path(params, 7)
