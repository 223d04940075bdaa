"""Objects named by import path, ``package.module:ATTR`` (a user's model or method)."""

from __future__ import annotations

import importlib

from lgl_spl.errors import ConfigError, user_frame


def is_import_path(name: str) -> bool:
    return ":" in str(name)


def load(path: str, *, key: str, attr_name: str = "ATTR"):
    """The object ``path`` names, found on the working directory or ``PYTHONPATH``; a path
    of the wrong form, a module that fails to import (with the line of the user's file that
    raised) or a missing attribute is one ConfigError line naming ``key`` (``model.name``)."""
    module_name, _, attr = str(path).partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{key} {path!r}: an import path reads package.module:{attr_name}")
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - whatever the user's module raises on import
        where = user_frame(e)
        at = f" at {where}" if where and not isinstance(e, ModuleNotFoundError) else ""
        message = (str(e).strip().splitlines() or [""])[0]
        raise ConfigError(
            f"{key} {path!r}: cannot import {module_name!r} ({type(e).__name__}: {message}{at})"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{key} {path!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj
