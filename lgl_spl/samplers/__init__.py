"""Host-side schedulers: pure state machines that emit index arrays."""

from lgl_spl.samplers.base import RoundPlan, Sampler, Signals, fill_round, round_rng
from lgl_spl.samplers.registry import SAMPLERS, make_sampler
from lgl_spl.samplers.uniform import RandomSampler

__all__ = [
    "SAMPLERS",
    "RandomSampler",
    "RoundPlan",
    "Sampler",
    "Signals",
    "fill_round",
    "make_sampler",
    "round_rng",
]
