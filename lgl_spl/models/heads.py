"""The classifier layer of a student, found in its parameters (LGL re-initialises rows of it).

A fresh row is drawn as the model's own classifier was at initialisation:
``lecun_head`` is ``nn.Dense``'s default, ``torch_head`` PyTorch's ``nn.Linear``
(the papers' ResNets), ``normal_head(0.01)`` torchvision's VGG.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

HeadInit = Callable[[jax.Array, tuple[int, int]], tuple[jax.Array, jax.Array]]


def lecun_head(key: jax.Array, shape: tuple[int, int]):
    """``nn.Dense``'s default: LeCun-normal kernel, zero bias."""
    return jax.nn.initializers.lecun_normal()(key, shape), jnp.zeros(shape[-1])


def torch_head(key: jax.Array, shape: tuple[int, int]):
    """``torch.nn.Linear``'s default: kernel and bias U(±1/√fan_in)."""
    bound = 1.0 / math.sqrt(shape[0])
    k_kernel, k_bias = jax.random.split(key)
    kernel = jax.random.uniform(k_kernel, shape, jnp.float32, -bound, bound)
    return kernel, jax.random.uniform(k_bias, (shape[-1],), jnp.float32, -bound, bound)


@functools.cache
def normal_head(std: float) -> HeadInit:
    """N(0, std²) kernel, zero bias (torchvision's VGG classifier: std 0.01)."""

    def init(key, shape):
        return std * jax.random.normal(key, shape, jnp.float32), jnp.zeros(shape[-1])

    return init


def classifier_path(params: Mapping, num_classes: int) -> tuple[str, ...]:
    """Path of the classifier: the last layer (in creation order) with kernel [F, C], bias [C].

    Flax keeps parameters in the order their modules were created, and every
    student creates its classifier last; no layer name is assumed.
    """
    found = []

    def visit(node, path):
        if not isinstance(node, Mapping):
            return
        kernel, bias = node.get("kernel"), node.get("bias")
        if (
            kernel is not None
            and bias is not None
            and getattr(kernel, "ndim", 0) == 2
            and kernel.shape[-1] == num_classes
            and bias.shape == (num_classes,)
        ):
            found.append(path)
        for name, child in node.items():
            visit(child, (*path, name))

    visit(params, ())
    if not found:
        raise ValueError(f"no classifier layer with {num_classes} outputs in the parameters")
    return found[-1]


def reinit_classes(
    params, path: tuple[str, ...], classes: jax.Array, key: jax.Array, init: HeadInit = lecun_head
):
    """Fresh classifier rows for ``classes`` (bool [C]), drawn by ``init``."""

    def replace(node, depth):
        name = path[depth]
        child = node[name]
        if depth + 1 < len(path):
            return {**node, name: replace(child, depth + 1)}
        kernel, bias = init(key, child["kernel"].shape)
        return {
            **node,
            name: dict(
                child,
                kernel=jnp.where(classes[None, :], kernel, child["kernel"]),
                bias=jnp.where(classes, bias, child["bias"]),
            ),
        }

    return replace(params, 0)
