"""What a sampler may know about the run: sizes, labels, the seed, the host data."""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np


@dataclasses.dataclass
class SamplerContext:
    num_examples: int
    num_classes: int
    batch_size: int
    seed: int
    num_steps: int
    labels: np.ndarray  # [N] int32 training labels
    x_train: np.ndarray | None = None  # host images (None for disk-backed datasets)
    dataset_name: str = ""
    feed: object | None = None  # the loop's training feeder (device data), for ADVisE
    mesh: object | None = None
    timers: dict = dataclasses.field(default_factory=lambda: defaultdict(float))

    @property
    def steps_per_round(self) -> int:
        return -(-self.num_examples // self.batch_size)

    @property
    def num_rounds(self) -> int:
        return -(-self.num_steps // self.steps_per_round)

    @contextmanager
    def timed(self, phase: str):
        """Accumulate wall time per phase (selection, clustering, embedding, …)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timers[phase] += time.perf_counter() - t0
