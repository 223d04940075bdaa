"""Wall time by phase (scoring, selection, clustering, embedding, evaluation, …).

Phases may nest; each is charged its *exclusive* time (a cluster refresh inside
an embedding block counts as clustering, not as embedding). Totals cover the
process; ``round`` holds the current round's share, for ``rounds.jsonl``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager


class PhaseTimer:
    def __init__(self):
        self.totals: dict[str, float] = defaultdict(float)
        self.round: dict[str, float] = defaultdict(float)
        self._stack: list[list] = []  # [phase, start, seconds spent in nested phases]

    @contextmanager
    def timed(self, phase: str):
        frame = [phase, time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            elapsed = time.perf_counter() - frame[1]
            self.add(phase, elapsed - frame[2])
            if self._stack:
                self._stack[-1][2] += elapsed

    def add(self, phase: str, seconds: float) -> None:
        self.totals[phase] += seconds
        self.round[phase] += seconds

    def start_round(self) -> None:
        self.round = defaultdict(float)

    def __getitem__(self, phase: str) -> float:
        return self.totals[phase]
