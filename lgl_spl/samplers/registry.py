"""Methods by name: the package's own (each declared beside its sampler), the ones registered
with :func:`register_method`, and any named by import path (``package.module:ATTR``).

A new built-in method is a sampler module with a ``METHODS`` tuple, listed once in
:data:`_MODULES`; nothing else lists methods.
"""

from __future__ import annotations

from lgl_spl import import_path
from lgl_spl.errors import ConfigError, UserCodeError
from lgl_spl.import_path import is_import_path
from lgl_spl.samplers import (
    advise,
    infobatch,
    lgl,
    online,
    prune,
    self_paced,
    superloss,
    uniform,
)
from lgl_spl.samplers.base import StepSelector
from lgl_spl.samplers.checked import CheckedSampler
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method
from lgl_spl.settings import check_block

# The modules whose METHODS are the package's own, in the order reports list them.
_MODULES = (uniform, self_paced, advise, lgl, online, infobatch, superloss, prune)

METHODS: dict[str, Method] = {m.name: m for module in _MODULES for m in module.METHODS}
BUILT_IN = tuple(METHODS)  # the package's own names, in order


def register_method(method: Method) -> Method:
    """Make ``method`` known by its name (from a script or a notebook); returns it.

    Registering a method again under the same name replaces it, so a notebook cell can be
    re-run; a name of the package's own methods is refused.
    """
    if not isinstance(method, Method):
        raise ConfigError(
            f"register_method takes an lgl_spl.Method, got {type(method).__name__} {method!r}"
        )
    if method.name in BUILT_IN and METHODS[method.name] is not method:
        raise ConfigError(
            f"method {method.name!r} is one of the package's own; choose another name"
        )
    METHODS[method.name] = method
    return method


def load_method(path: str) -> Method:
    """The :class:`Method` that ``package.module:ATTR`` names (found on the working directory
    or ``PYTHONPATH``); every failure is one ConfigError line naming the path."""
    obj = import_path.load(path, key="method.name")
    if not isinstance(obj, Method):
        raise ConfigError(
            f"method.name {path!r} is a {type(obj).__name__}, not an lgl_spl.Method "
            "(declare one: lgl_spl.Method(name, build, fields))"
        )
    return obj


def get_method(name: str) -> Method:
    """The method ``name`` names: a known name or an import path (one ConfigError line)."""
    if is_import_path(name):
        return load_method(name)
    if name not in METHODS:
        raise ConfigError(
            f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}, "
            "or name your own as package.module:ATTR"
        )
    return METHODS[name]


def validate_method(method_cfg) -> None:
    """The ``method`` block names a known method and every setting fits its schema."""
    method = get_method(method_cfg.name)
    check_block("method", method_cfg, method.fields, owner=f"method {method.name!r}")


def is_own(method: Method) -> bool:
    """Whether ``method`` is one of the package's own (its errors are not a user's)."""
    return METHODS.get(method.name) is method and method.name in BUILT_IN


def make_sampler(method_cfg, ctx: SamplerContext) -> CheckedSampler:
    """The sampler a config's ``method`` block asks for (validated first), held to the
    protocol; ``.step_selector`` is the method's :class:`StepSelector` (or None)."""
    validate_method(method_cfg)
    method = get_method(method_cfg.name)
    own = is_own(method)
    sampler = method_code(method, method.build, method_cfg, ctx)
    selector = None
    if method.step_selector is not None:
        selector = method_code(method, method.step_selector, method_cfg, ctx)
        if not isinstance(selector, StepSelector):
            raise ConfigError(
                f"method {method.name!r}: step_selector must return an lgl_spl.StepSelector, "
                f"got {type(selector).__name__}"
            )
    checked = CheckedSampler(
        sampler,
        method,
        steps=ctx.steps_per_round,
        width=ctx.batch_size if selector is None else selector.candidates,
        num_examples=ctx.num_examples,
        num_classes=ctx.num_classes,
        own=own,
    )
    checked.step_selector, checked.keep = selector, ctx.batch_size
    return checked


def method_code(method: Method, fn, *args):
    """``fn(*args)``, a part of ``method`` (its build, its selector's or loss transform's
    constructor): a user's method's exception becomes a ``UserCodeError`` naming it."""
    return fn(*args) if is_own(method) else user_code(method, fn, *args)


def user_code(method: Method, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` of a user's method: what it raises (other than the project's
    own one-line errors) is a :class:`UserCodeError` naming the method."""
    try:
        return fn(*args, **kwargs)
    except (ConfigError, UserCodeError):
        raise
    except Exception as e:  # noqa: BLE001 - the user's sampler code
        raise UserCodeError(f"method {method.name!r}", e) from e
