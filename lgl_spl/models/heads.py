"""The classifier layer of a student, found in its parameters (LGL re-initialises rows of it)."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp


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


def reinit_classes(params, path: tuple[str, ...], classes: jax.Array, key: jax.Array):
    """Fresh classifier rows for ``classes`` (bool [C]): Dense's default init, zero bias."""

    def replace(node, depth):
        name = path[depth]
        child = node[name]
        if depth + 1 < len(path):
            return {**node, name: replace(child, depth + 1)}
        fresh = jax.nn.initializers.lecun_normal()(key, child["kernel"].shape)
        return {
            **node,
            name: dict(
                child,
                kernel=jnp.where(classes[None, :], fresh, child["kernel"]),
                bias=jnp.where(classes, 0.0, child["bias"]),
            ),
        }

    return replace(params, 0)
