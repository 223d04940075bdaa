"""Host-side schedulers: pure state machines that turn signals into index arrays."""

from lgl_spl.samplers.base import (
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
from lgl_spl.samplers.registry import (
    METHODS,
    SAMPLERS,
    Method,
    get_method,
    make_sampler,
    validate_method,
)
from lgl_spl.samplers.self_paced import SelfPacedSampler
from lgl_spl.samplers.uniform import RandomSampler

__all__ = [
    "METHODS",
    "SAMPLERS",
    "FunctionalSampler",
    "LGLSampler",
    "Method",
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
    "round_rng",
    "stream_key",
    "validate_method",
]
