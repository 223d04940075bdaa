"""What a sampler may know about the run: sizes, labels, the seed, the host images."""

from __future__ import annotations

import dataclasses

import numpy as np

from lgl_spl.timing import PhaseTimer
from lgl_spl.util import ceil_div


@dataclasses.dataclass
class SamplerContext:
    num_examples: int
    num_classes: int
    batch_size: int
    seed: int
    num_steps: int
    labels: np.ndarray  # [N] int32 training labels
    x_train: np.ndarray | None = None  # host images (None for disk-backed datasets)
    timer: PhaseTimer = dataclasses.field(default_factory=PhaseTimer)

    @property
    def steps_per_round(self) -> int:
        return ceil_div(self.num_examples, self.batch_size)

    @property
    def num_rounds(self) -> int:
        return ceil_div(self.num_steps, self.steps_per_round)

    def timed(self, phase: str):
        """Accumulate wall time per phase (selection, clustering, …)."""
        return self.timer.timed(phase)
