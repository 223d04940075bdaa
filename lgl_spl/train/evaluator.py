"""Passes over a whole split with the student in eval mode: accuracy, and the scoring pass.

The loop only calls these; what a pass computes lives here.
"""

from __future__ import annotations

import numpy as np

from lgl_spl import parallel
from lgl_spl.samplers import Signals
from lgl_spl.timing import PhaseTimer
from lgl_spl.train.steps import Steps


class Evaluator:
    def __init__(self, steps: Steps, mesh, *, eval_batch_size: int, timer: PhaseTimer):
        self.steps = steps
        self.mesh = mesh
        self.eval_batch_size = eval_batch_size
        self.timer = timer

    def _batches(self, feed):
        # Evenly filled: two batches of 1,000 for 1,438 examples would spend 28 % of the
        # forward passes on padding.
        size = parallel.pass_batch_size(feed.size, self.eval_batch_size, self.mesh.size)
        return feed.pass_batches(size)

    def evaluate(self, state, feed, class_mask: np.ndarray) -> tuple[float, float]:
        """(accuracy, mean cross-entropy) over ``feed``'s split; masked classes never win."""
        mask = parallel.put_replicated(class_mask, self.mesh)
        totals = {"correct": 0.0, "loss": 0.0, "count": 0.0}
        for args, w in self._batches(feed):
            out = self.steps.evaluate(state, *args, parallel.put_batch(w, self.mesh), mask)
            for k in totals:
                totals[k] += float(out[k])
        return totals["correct"] / totals["count"], totals["loss"] / totals["count"]

    def score(self, state, feed, class_mask: np.ndarray, labels: np.ndarray) -> Signals:
        """Per-example loss, logits and features of every training example (one forward pass)."""
        with self.timer.timed("scoring"):
            mask = parallel.put_replicated(class_mask, self.mesh)
            parts = {"loss": [], "logits": [], "features": []}
            for args, w in self._batches(feed):
                out = self.steps.score(state, *args, mask)
                keep = w > 0
                for k in parts:
                    parts[k].append(parallel.to_host(out[k])[keep])
            return Signals(
                losses=np.concatenate(parts["loss"]),
                logits=np.concatenate(parts["logits"]),
                features=np.concatenate(parts["features"]),
                labels=np.asarray(labels, np.int32),
            )
