"""Method hyperparameters declared once: defaults, types, ranges and choices.

Each sampler module declares its method's ``FIELDS``; ``configlib.set_method``
builds a config's ``method`` block from them, ``validate_method`` checks one
against them, and the sampler reads the values without defaults of its own.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from typing import Any

from lgl_spl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Field:
    """One hyperparameter: its default, what it means, and which values are allowed.

    ``kind`` is ``int``, ``float`` or ``choice``; numbers must lie in
    [low, high] ((low, high] with ``low_open``), choices in ``choices``.
    """

    default: Any
    doc: str
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple = ()

    def check(self, name: str, value: Any) -> None:
        if self.kind == "choice":
            if value not in self.choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(map(str, self.choices))}, got {value!r}"
                )
            return
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
            if self.low is not None and value < self.low:
                raise ConfigError(f"{name} must be ≥ {self.low:g}, got {value}")
            if self.high is not None and value > self.high:
                raise ConfigError(f"{name} must be ≤ {self.high:g}, got {value}")
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        value = float(value)
        low = self.low
        below = low is not None and (value <= low if self.low_open else value < low)
        if not math.isfinite(value) or below or (self.high is not None and value > self.high):
            lo = "" if low is None else f"{'>' if self.low_open else '≥'} {low:g}"
            hi = "" if self.high is None else f"≤ {self.high:g}"
            bounds = " and ".join(filter(None, (lo, hi)))
            raise ConfigError(f"{name} must be a finite number {bounds}, got {value}")


def integer(default: int, doc: str, *, low: int | None = None, high: int | None = None) -> Field:
    return Field(default, doc, "int", low=low, high=high)


def number(default: float, doc: str, **bounds) -> Field:
    return Field(default, doc, "float", **bounds)


def choice(default: Any, doc: str, choices: tuple) -> Field:
    return Field(default, doc, "choice", choices=choices)


def check_block(prefix: str, block: Mapping[str, Any], fields: Mapping[str, Field]) -> None:
    """Every key of ``block`` is a field (with a close match suggested) and every value fits."""
    for key in block:
        if key == "name":
            continue
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(
                f"{prefix}.{key} is not a setting of this method{hint} (its settings: {known})"
            )
    for key, field in fields.items():
        field.check(f"{prefix}.{key}", block.get(key, field.default))
