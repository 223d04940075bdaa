"""Samplers by method name."""

from __future__ import annotations

import functools

from lgl_spl.errors import ConfigError
from lgl_spl.samplers.advise import AdviseSampler
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.lgl import LGLSampler
from lgl_spl.samplers.self_paced import SelfPacedSampler
from lgl_spl.samplers.uniform import RandomSampler

SAMPLERS = {
    "random": RandomSampler,
    "spl": functools.partial(SelfPacedSampler, rule="spl"),
    "spl_inv": functools.partial(SelfPacedSampler, rule="spl_inv"),
    "spld": functools.partial(SelfPacedSampler, rule="spld"),
    "lgl": LGLSampler,
    "advise": AdviseSampler,
}


def make_sampler(method_cfg, ctx: SamplerContext):
    """The sampler a config's ``method`` block asks for."""
    name = method_cfg.name
    if name not in SAMPLERS:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(sorted(SAMPLERS))}")
    return SAMPLERS[name](method_cfg, ctx)
