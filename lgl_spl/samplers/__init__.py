"""Host-side schedulers: pure state machines that turn signals into index arrays.

A method is a :class:`Method` (``method.py``), declared beside its sampler; the package's
own are collected by ``registry.py``. docs/design.md, "Writing a method", says how to add one.
"""

from lgl_spl.samplers.base import (
    Proxy,
    RoundPlan,
    Sampler,
    Signals,
    StepSelector,
    check_signals,
    fill_round,
    round_rng,
    stream_key,
)
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.functional import FunctionalSampler, build_sampler, method_settings
from lgl_spl.samplers.lgl import LGLSampler
from lgl_spl.samplers.method import Method
from lgl_spl.samplers.registry import (
    BUILT_IN,
    METHODS,
    get_method,
    make_sampler,
    register_method,
    validate_method,
)
from lgl_spl.samplers.self_paced import SelfPacedSampler
from lgl_spl.samplers.uniform import RandomSampler

__all__ = [
    "BUILT_IN",
    "METHODS",
    "FunctionalSampler",
    "LGLSampler",
    "Method",
    "Proxy",
    "RandomSampler",
    "RoundPlan",
    "Sampler",
    "SamplerContext",
    "SelfPacedSampler",
    "Signals",
    "StepSelector",
    "build_sampler",
    "check_signals",
    "fill_round",
    "get_method",
    "make_sampler",
    "method_settings",
    "register_method",
    "round_rng",
    "stream_key",
    "validate_method",
]
