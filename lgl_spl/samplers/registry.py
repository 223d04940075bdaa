"""Samplers by method name."""

from __future__ import annotations

from lgl_spl.errors import ConfigError
from lgl_spl.samplers.uniform import RandomSampler

SAMPLERS = {"random": RandomSampler}


def make_sampler(method_cfg, *, num_examples: int, num_classes: int, batch_size: int, seed: int):
    """The sampler a config's ``method`` block asks for."""
    name = method_cfg.name
    if name not in SAMPLERS:
        raise ConfigError(f"unknown method {name!r}; choose one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](
        num_examples=num_examples, num_classes=num_classes, batch_size=batch_size, seed=seed
    )
