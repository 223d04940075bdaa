"""Host-side schedulers: pure state machines that emit index arrays."""

from lgl_spl.samplers.base import RoundPlan, Sampler, Signals, fill_round, round_rng
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.lgl import LGLSampler
from lgl_spl.samplers.registry import SAMPLERS, make_sampler
from lgl_spl.samplers.self_paced import SelfPacedSampler
from lgl_spl.samplers.uniform import RandomSampler

__all__ = [
    "SAMPLERS",
    "LGLSampler",
    "RandomSampler",
    "RoundPlan",
    "Sampler",
    "SamplerContext",
    "SelfPacedSampler",
    "Signals",
    "fill_round",
    "make_sampler",
    "round_rng",
]
