"""Models by name. Every model maps NHWC float inputs to (logits, features).

The papers' students: ``resnet18`` (SPL-ADVisE, CIFAR-10 / Fashion-MNIST), ``wrn28_10`` and
``wrn16_8`` (SPL-ADVisE, CIFAR-100 / SVHN), ``vgg16`` (LGL, CIFAR), ``vgg16_imagenet`` and
``resnet50`` (LGL, ImageNet), ``mlp1`` / ``mlp3`` (LGL's toy data); ``lenet_embed`` and
``vgg16_embed`` are SPL-ADVisE's embedding nets.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from lgl_spl.errors import ConfigError
from lgl_spl.import_path import is_import_path
from lgl_spl.models import heads, own
from lgl_spl.models.lenet import LeNet
from lgl_spl.models.mlp import MLP
from lgl_spl.models.resnet import PreActResNet18, ResNet18, ResNet50
from lgl_spl.models.vgg import VGG16, VGG16ImageNet
from lgl_spl.models.wide_resnet import WideResNet


def _embedding(cls):
    """The same trunk with an embedding head: ``embed_dim`` outputs instead of classes."""

    def build(*, num_classes: int = 0, embed_dim: int = 64, **kwargs):
        del num_classes
        return cls(num_classes=embed_dim, **kwargs)

    return build


MODELS = {
    "lenet": LeNet,
    "lenet_embed": _embedding(LeNet),
    "vgg16": VGG16,
    "vgg16_embed": _embedding(VGG16),
    "vgg16_imagenet": VGG16ImageNet,
    "resnet18": ResNet18,
    "preact_resnet18": PreActResNet18,
    "resnet50": ResNet50,
    "resnet50_zero_init": functools.partial(ResNet50, zero_init_residual=True),
    "wrn": WideResNet,
    "wrn16_8": functools.partial(WideResNet, depth=16, widen=8, dropout=0.4),
    "wrn28_10": functools.partial(WideResNet, depth=28, widen=10, dropout=0.3),
    "mlp1": functools.partial(MLP, hidden_layers=1),
    "mlp3": functools.partial(MLP, hidden_layers=3),
}

EMBEDDING_MODELS = ("lenet_embed", "vgg16_embed")

# How each student initialised its classifier (LGL draws new classes' rows the same way).
_HEAD_INITS = {
    "resnet18": heads.torch_head,
    "resnet50": heads.torch_head,
    "resnet50_zero_init": heads.torch_head,
    "vgg16_imagenet": heads.normal_head(0.01),
}


def head_init(name: str) -> heads.HeadInit:
    """The classifier initialiser of model ``name`` (``nn.Dense``'s default unless listed)."""
    return _HEAD_INITS.get(name, heads.lecun_head)


COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def check_model_name(name: str) -> None:
    """A registered name, or an importable ``package.module:Name`` (models/own.py)."""
    if is_import_path(name):
        own.load_model_class(name)
    elif name not in MODELS:
        raise ConfigError(
            f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}, "
            "or name your own as package.module:Name"
        )


def get_model(
    name: str, *, num_classes: int, width: float = 1.0, compute_dtype: str = "float32", **kwargs
) -> nn.Module:
    """Build model ``name`` (or ``package.module:Name``, a Linen or NNX module of your own:
    models/own.py); unknown names raise ConfigError listing the known ones.

    ``compute_dtype`` is the dtype of the activations and matrix products (bfloat16:
    mixed precision); parameters stay float32, BatchNorm reduces its statistics in
    float32, and every model returns float32 logits and features.
    """
    check_model_name(name)
    if compute_dtype not in COMPUTE_DTYPES:
        raise ConfigError(
            f"train.compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {compute_dtype!r}"
        )
    if is_import_path(name):
        return own.build_own_model(
            name, num_classes=num_classes, width=width, dtype=COMPUTE_DTYPES[compute_dtype],
            **kwargs,
        )  # fmt: skip
    try:
        return MODELS[name](
            num_classes=num_classes, width=width, dtype=COMPUTE_DTYPES[compute_dtype], **kwargs
        )
    except TypeError as e:
        raise ConfigError(f"model {name!r}: bad model.kwargs ({e})") from None


def init_variables(model: nn.Module, key, sample) -> tuple:
    """(params, batch_stats) of a Linen model; batch_stats is {} without BatchNorm."""
    params_key, dropout_key = jax.random.split(key)
    variables = model.init({"params": params_key, "dropout": dropout_key}, sample, train=False)
    return variables["params"], variables.get("batch_stats", {})
