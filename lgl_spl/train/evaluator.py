"""Passes over a whole split with the student in eval mode: accuracy, and the scoring pass.

The loop only calls these; what a pass computes lives here. A pass runs at the speed of
the forward: every batch has one shape (the last is padded, weight 0), so each split
compiles one program, and the host never waits for the batch it has just dispatched.
An evaluation's sums stay on the devices until the pass ends (one transfer); a scoring
pass's per-example outputs are fetched a few batches behind the dispatch.
"""

from __future__ import annotations

import collections

import jax
import numpy as np

from lgl_spl import parallel
from lgl_spl.samplers import Signals
from lgl_spl.samplers.base import PER_EXAMPLE
from lgl_spl.timing import PhaseTimer
from lgl_spl.train.steps import StepBatch, Steps

# Batches a scoring pass dispatches before it waits for the first one's outputs: enough
# to keep the devices busy, few enough that a pass over ImageNet never holds its logits.
SCORE_AHEAD = 4


def _fetch(tree):
    """Device values to the host: one transfer for the whole tree in one process."""
    if all(getattr(x, "is_fully_addressable", True) for x in jax.tree.leaves(tree)):
        return jax.device_get(tree)
    return jax.tree.map(parallel.to_host, tree)  # values spread over processes


def _behind(items, depth: int):
    """``items`` again, each yielded once ``depth`` later ones have been dispatched."""
    queue = collections.deque()
    for item in items:
        queue.append(item)
        if len(queue) > depth:
            yield queue.popleft()
    yield from queue


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
        outs = [
            self.steps.evaluate(state, StepBatch(*args, parallel.put_batch(w, self.mesh)), mask)
            for args, w in self._batches(feed)
        ]
        totals = {"correct": 0.0, "loss": 0.0, "count": 0.0}
        for out in _fetch(outs):  # summed on the host in batch order, as always
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
            for out, keep in _behind(self._score_batches(state, feed, mask, want), SCORE_AHEAD):
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

    def _score_batches(self, state, feed, mask, want):
        """``(outputs, real rows)`` of every batch, dispatched as the pass is iterated."""
        for args, w in self._batches(feed):
            weights = parallel.put_batch(w, self.mesh)
            out = self.steps.score(state, StepBatch(*args, weights), mask, tuple(want))
            for k in PER_EXAMPLE:
                if k in out and out[k].is_fully_addressable:
                    out[k].copy_to_host_async()  # the copy overlaps the next batches
            yield out, w > 0
