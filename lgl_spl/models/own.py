"""A model of your own, named ``package.module:Name`` in ``model.name``.

``Name`` is a Flax Linen module class whose constructor takes ``num_classes``
and whose ``__call__(x, train)`` returns logits [B, C], or ``(logits,
features)``. With logits alone, the logits are the features (what SPLD's
groups cluster). ``width`` and ``dtype`` are passed when the class declares
them. LGL finds the classifier by shape (``heads.classifier_path``) and draws
new rows as ``nn.Dense`` does by default.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import flax.linen as nn
import jax.numpy as jnp

from lgl_spl.errors import ConfigError


def is_import_path(name: str) -> bool:
    return ":" in str(name)


def load_model_class(path: str) -> type[nn.Module]:
    """The Linen module class ``path`` names; every failure is one ConfigError line."""
    module_name, _, attr = str(path).partition(":")
    if not module_name or not attr:
        raise ConfigError(f"model.name {path!r}: an import path reads package.module:Name")
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - whatever the user's module raises on import
        raise ConfigError(
            f"model.name {path!r}: cannot import {module_name!r} ({type(e).__name__}: {e})"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"model.name {path!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ConfigError(f"model.name {path!r} is not a Flax Linen module class")
    if "num_classes" not in {f.name for f in dataclasses.fields(obj)}:
        raise ConfigError(f"model.name {path!r}: the module has no num_classes attribute")
    params = inspect.signature(obj.__call__).parameters
    if "train" not in params:
        raise ConfigError(f"model.name {path!r}: __call__ must take (x, train)")
    return obj


def build_own_model(path: str, *, num_classes: int, width: float, dtype, **kwargs) -> nn.Module:
    """The module ``path`` names for ``num_classes`` classes, wrapped to give (logits, features)."""
    cls = load_model_class(path)
    fields = {f.name for f in dataclasses.fields(cls)}
    if "width" in fields:
        kwargs["width"] = width
    elif float(width) != 1.0:
        raise ConfigError(f"model.name {path!r} has no width attribute; leave model.width at 1")
    if "dtype" in fields:
        kwargs["dtype"] = dtype
    elif dtype != jnp.float32:
        raise ConfigError(
            f"model.name {path!r} has no dtype attribute; train.compute_dtype must be float32"
        )
    try:
        inner = cls(num_classes=num_classes, **kwargs)
    except TypeError as e:
        raise ConfigError(f"model {path!r}: bad model.kwargs ({e})") from None
    return OwnModel(inner, num_classes=num_classes, import_path=path)


class OwnModel(nn.Module):
    """A user's module whose outputs are checked and brought to float32 (logits, features)."""

    module: nn.Module
    num_classes: int
    import_path: str

    def __call__(self, x, *, train: bool):
        out = self.module(x, train=train)
        pair = isinstance(out, tuple | list)
        if pair and len(out) != 2:
            raise ConfigError(self._wrong(f"a tuple of {len(out)}"))
        logits, features = out if pair else (out, out)
        shape = getattr(logits, "shape", None)
        if shape is None or tuple(shape) != (x.shape[0], self.num_classes):
            raise ConfigError(self._wrong(f"logits of shape {shape}"))
        if getattr(features, "ndim", 0) < 1 or features.shape[0] != x.shape[0]:
            raise ConfigError(self._wrong("features without a batch axis"))
        features = features.reshape(x.shape[0], -1)
        return logits.astype(jnp.float32), features.astype(jnp.float32)

    def _wrong(self, got: str) -> str:
        return (
            f"model {self.import_path!r}: __call__(x, train) must return logits [batch, "
            f"{self.num_classes}] or (logits, features); got {got}"
        )
