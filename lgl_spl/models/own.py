"""A model of your own, named ``package.module:Name`` in ``model.name``.

``Name`` is a Flax module class whose outputs are logits [B, C], or ``(logits,
features)``. With logits alone, the logits are the features (what SPLD's groups
cluster). ``width`` and ``dtype`` are passed when the class declares them, each as
its declared type (``width: int`` gets an int, and ``model.width`` must then be
whole). LGL finds the classifier by shape (``heads.classifier_path``) and draws
new rows as ``nn.Dense`` (and ``nnx.Linear``) does by default.

- Linen: an ``nn.Module`` with a ``num_classes`` attribute and ``__call__(x, train)``.
- NNX: an ``nnx.Module`` whose ``__init__`` takes ``num_classes`` (and ``rngs``,
  ``width``, ``dtype`` when it declares them) and whose ``__call__`` takes ``(x)``
  or ``(x, train)``. It runs through ``flax.nnx.bridge.ToLinen``: its ``nnx.Param``
  are the ``params`` collection, its ``nnx.BatchStat`` the ``batch_stats``, its
  dropout draws from the ``dropout`` stream, and it is switched to train or eval
  mode (``module.train()`` / ``module.eval()``: Dropout's ``deterministic``,
  BatchNorm's ``use_running_average``) before every call, so the project's steps,
  checkpoints and resumption treat it as a Linen model.

Whatever the user's module raises while it is built or called (other than a
``ConfigError``) comes out as a ``UserCodeError`` naming the model and the line.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lgl_spl import import_path
from lgl_spl.errors import ConfigError, UserCodeError

NOT_A_MODULE = "is not a Flax module class (Linen nn.Module or nnx.Module)"


def _is_nnx_class(obj) -> bool:
    from flax import nnx  # only for import paths: the registered models are Linen

    return isinstance(obj, type) and issubclass(obj, nnx.Module)


def _user_params(fn) -> list[inspect.Parameter]:
    """``fn``'s parameters after ``self``; [] when its signature cannot be read."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    return params[1:] if params and params[0].name == "self" else params


def nnx_takes_train(cls) -> bool:
    """Whether an NNX class's ``__call__`` takes ``train`` (else it takes ``(x)``)."""
    return any(p.name == "train" for p in _user_params(cls.__call__))


def _takes_x(params: list[inspect.Parameter]) -> bool:
    """Callable as ``f(x)``: a first positional parameter and nothing else required."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or params[0].kind not in (*positional, inspect.Parameter.VAR_POSITIONAL):
        return False
    empty = inspect.Parameter.empty
    rest = [p for p in params[1:] if p.name != "train"]
    return all(p.default is not empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in rest)


def load_model_class(path: str) -> type:
    """The Linen or NNX module class ``path`` names; every failure is one ConfigError line."""
    obj = import_path.load(path, key="model.name", attr_name="Name")
    if isinstance(obj, type) and issubclass(obj, nn.Module):
        if "num_classes" not in {f.name for f in dataclasses.fields(obj)}:
            raise ConfigError(f"model.name {path!r}: the module has no num_classes attribute")
        params = inspect.signature(obj.__call__).parameters
        if "train" not in params:
            raise ConfigError(f"model.name {path!r}: __call__ must take (x, train)")
        return obj
    if _is_nnx_class(obj):
        init = {p.name for p in _user_params(obj.__init__)}
        if "num_classes" not in init:
            raise ConfigError(f"model.name {path!r}: its __init__ has no num_classes parameter")
        if not _takes_x(_user_params(obj.__call__)):
            raise ConfigError(f"model.name {path!r}: __call__ must take (x) or (x, train)")
        return obj
    raise ConfigError(f"model.name {path!r} {NOT_A_MODULE}")


def _annotations(cls) -> dict[str, Any]:
    """The declared types of a Linen class's fields or an NNX class's ``__init__``
    parameters, resolved where possible (strings otherwise)."""
    target = cls if issubclass(cls, nn.Module) else cls.__init__
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: keep it as written
        if issubclass(cls, nn.Module):
            return {f.name: f.type for f in dataclasses.fields(cls)}
        return {p.name: p.annotation for p in _user_params(cls.__init__)}


def _type_names(annotation) -> set[str] | None:
    """The names of the types an annotation allows; None when it says nothing (or Any)."""
    if annotation in (None, inspect.Parameter.empty, Any):
        return None
    if isinstance(annotation, str):
        names = {part.strip() for part in annotation.split("|")}
        return None if "Any" in names or "typing.Any" in names else names
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        names = set()
        for arg in typing.get_args(annotation):
            inner = _type_names(arg)
            if inner is None:
                return None
            names |= inner
        return names
    return {getattr(annotation, "__name__", str(annotation))}


def typed_width(path: str, width, annotation) -> int | float:
    """``model.width`` as the model declares ``width``: float, or int when it is whole."""
    names = _type_names(annotation)
    if names is None or "float" in names:
        return float(width)
    if "int" in names:
        if float(width).is_integer():
            return int(width)
        raise ConfigError(
            f"model.name {path!r} declares width: int; model.width must be a whole number, "
            f"got {width}"
        )
    raise ConfigError(
        f"model.name {path!r} declares width: {' | '.join(sorted(names))}; "
        "model.width is a number, so declare width: float or int"
    )


def build_own_model(path: str, *, num_classes: int, width: float, dtype, **kwargs) -> nn.Module:
    """The module ``path`` names for ``num_classes`` classes, wrapped to give (logits, features)."""
    cls = load_model_class(path)
    is_nnx = not issubclass(cls, nn.Module)
    if is_nnx:
        declared = {p.name for p in _user_params(cls.__init__)}
    else:
        declared = {f.name for f in dataclasses.fields(cls)}
    kind = "__init__ parameter" if is_nnx else "attribute"
    if "width" in declared:
        kwargs["width"] = typed_width(path, width, _annotations(cls).get("width"))
    elif float(width) != 1.0:
        raise ConfigError(f"model.name {path!r} has no width {kind}; leave model.width at 1")
    if "dtype" in declared:
        kwargs["dtype"] = dtype
    elif dtype != jnp.float32:
        raise ConfigError(
            f"model.name {path!r} has no dtype {kind}; train.compute_dtype must be float32"
        )
    if is_nnx:
        return _bridged(cls, path, num_classes, kwargs, takes_rngs="rngs" in declared)
    try:
        inner = cls(num_classes=num_classes, **kwargs)
    except TypeError as e:
        raise ConfigError(f"model {path!r}: bad model.kwargs ({e})") from None
    except (ConfigError, UserCodeError):
        raise
    except Exception as e:  # noqa: BLE001 - the user's __post_init__
        raise UserCodeError(f"model {path!r}", e) from e
    return OwnModel(inner, num_classes=num_classes, import_path=path)


def _bridged(cls, path: str, num_classes: int, kwargs: dict, *, takes_rngs: bool) -> OwnModel:
    """An NNX class as a Linen module (``nnx.bridge.ToLinen``), built inside ``init`` and
    ``apply``: its keyword arguments are checked against ``__init__`` here."""
    from flax.core import FrozenDict
    from flax.nnx import bridge

    try:
        kwargs = dict(num_classes=num_classes, **kwargs)
        rngs = {"rngs": None} if takes_rngs else {}
        inspect.signature(cls.__init__).bind(None, **kwargs, **rngs)
    except TypeError as e:
        raise ConfigError(f"model {path!r}: bad model.kwargs ({e})") from None
    inner = bridge.ToLinen(
        cls,
        kwargs=FrozenDict(kwargs),
        skip_rng=not takes_rngs,
        metadata_fn=None,  # plain arrays: the same param tree, optimiser and checkpoints
    )
    return OwnModel(
        inner, num_classes=num_classes, import_path=path, nnx_train=nnx_takes_train(cls)
    )


def _call_nnx_with_train(module, x, train):
    module.train() if train else module.eval()
    return module(x, train=train)


def _call_nnx(module, x, train):
    module.train() if train else module.eval()
    return module(x)


class OwnModel(nn.Module):
    """A user's module whose outputs are checked and brought to float32 (logits, features).

    ``nnx_train`` is None for a Linen module; for an NNX one (behind ``ToLinen``) whether
    its ``__call__`` takes ``train``.
    """

    module: nn.Module
    num_classes: int
    import_path: str
    nnx_train: bool | None = None

    def __call__(self, x, *, train: bool):
        try:
            if self.nnx_train is None:
                out = self.module(x, train=train)
            else:
                call = _call_nnx_with_train if self.nnx_train else _call_nnx
                out = self.module(x, train, nnx_method=call)
        except (ConfigError, UserCodeError):
            raise
        except Exception as e:  # noqa: BLE001 - the user's setup / __init__ / __call__
            raise UserCodeError(f"model {self.import_path!r}", e) from e
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
        call = "__call__(x, train)" if self.nnx_train is None else "__call__"
        return (
            f"model {self.import_path!r}: {call} must return logits [batch, "
            f"{self.num_classes}] or (logits, features); got {got}"
        )
