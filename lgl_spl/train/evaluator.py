"""Passes over a whole split with the student in eval mode: accuracy, and the scoring pass.

The loop only calls these; what a pass computes lives here.
"""

from __future__ import annotations

import numpy as np

from lgl_spl import parallel
from lgl_spl.samplers import Signals
from lgl_spl.timing import PhaseTimer
from lgl_spl.train.steps import PER_EXAMPLE, Steps


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

    def score(
        self, state, feed, class_mask: np.ndarray, labels: np.ndarray, want=PER_EXAMPLE
    ) -> Signals:
        """One forward pass over ``feed`` (eval mode) computing only what ``want`` names.

        Per-example outputs (``losses``, ``logits``, ``features``) come back to the host;
        LGL's ``class_entropies`` are accumulated on the devices as per-class sums, so a
        pass over ImageNet never holds [N, C] logits on the host unless asked to.
        """
        with self.timer.timed("scoring"):
            mask = parallel.put_replicated(class_mask, self.mesh)
            parts = {k: [] for k in PER_EXAMPLE if k in want}
            sums = None
            for args, w in self._batches(feed):
                out = self.steps.score(
                    state, *args, parallel.put_batch(w, self.mesh), mask, tuple(want)
                )
                keep = w > 0
                for k in parts:
                    parts[k].append(parallel.to_host(out[k])[keep])
                if "class_entropies" in want:
                    batch = (out["entropy_sums"], out["entropy_counts"])
                    sums = batch if sums is None else (sums[0] + batch[0], sums[1] + batch[1])
            joined = {k: np.concatenate(v) for k, v in parts.items()}
            entropies = None
            if sums is not None:
                total, count = (parallel.to_host(x).astype(np.float64) for x in sums)
                entropies = np.where(count > 0, total / np.maximum(count, 1.0), np.nan)
            return Signals(
                losses=joined.get("losses"),
                logits=joined.get("logits"),
                features=joined.get("features"),
                labels=np.asarray(labels, np.int32),
                class_entropies=entropies,
            )
