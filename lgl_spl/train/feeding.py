"""Feeders turn a global batch of indices into the arguments of a jitted step.

In memory, the whole split sits on every device and only the indices travel;
for sources read from disk (ImageNet) the same indices are gathered on the host:
one batch at a time (``HostFeeder``), or a whole round's batches decoded ahead by
Grain workers (``StreamingHostFeeder``).
"""

from __future__ import annotations

import numpy as np

from lgl_spl import parallel
from lgl_spl.data.augment import host_augment
from lgl_spl.data.input_pipeline import BatchStream, HostInput, InputOptions


class DeviceFeeder:
    """The split is replicated on the devices once; a batch is just its indices."""

    host_batches = False

    def __init__(self, x: np.ndarray, y: np.ndarray, mesh):
        self.mesh = mesh
        self.x = parallel.put_replicated(np.asarray(x), mesh)
        self.y = parallel.put_replicated(np.asarray(y), mesh)
        self.size = int(len(y))

    def batch(self, indices: np.ndarray):
        return self.x, self.y, parallel.put_batch(np.asarray(indices, np.int32), self.mesh)


class HostFeeder:
    """Images decoded on the host by index; labels kept in memory."""

    host_batches = True

    def __init__(self, source, labels: np.ndarray, mesh):
        self.mesh = mesh
        self.source = source
        self.labels = np.asarray(labels, np.int32)
        self.size = int(len(labels))

    def batch(self, indices: np.ndarray):
        indices = np.asarray(indices)
        put = lambda a: parallel.put_batch(a, self.mesh)
        local = np.arange(len(indices), dtype=np.int32)
        return put(self.source.gather(indices)), put(self.labels[indices]), put(local)


class StreamingHostFeeder:
    """Images decoded on the host by Grain workers, ahead of the step; labels in memory.

    ``batch(indices)`` is ``HostFeeder``'s synchronous path (evaluation transform).
    ``stream`` (a round's plan) and ``eval_stream`` (every example once) yield host numpy
    batches, decoded ahead by ``options.num_workers`` processes; ``put`` turns one into the
    step's device arguments. Close a stream that is left before its end (``close()`` or
    ``with``): that stops its workers at once rather than at garbage collection.
    """

    host_batches = True

    def __init__(
        self,
        source,
        labels: np.ndarray,
        mesh,
        *,
        seed: int = 0,
        augment: bool = True,
        options: InputOptions | None = None,
    ):
        self.mesh = mesh
        self.input = HostInput(source, labels=labels, seed=seed, augment=augment, options=options)
        self.source = source
        self.labels = self.input.labels
        self.size = self.input.size

    def put(self, images: np.ndarray, labels: np.ndarray):
        """Device arguments ``(images, labels, local indices)`` of a host batch."""
        put = lambda a: parallel.put_batch(a, self.mesh)
        local = np.arange(len(labels), dtype=np.int32)
        return put(np.asarray(images)), put(np.asarray(labels, np.int32)), put(local)

    def batch(self, indices: np.ndarray):
        return self.put(*self.input.batch(indices))

    def stream(
        self,
        indices: np.ndarray,
        *,
        first_step: int,
        start: int = 0,
        stop: int | None = None,
        train: bool = True,
    ) -> BatchStream:
        """Rows ``start..stop-1`` of a round's ``indices`` [S, B] as host ``(images, labels)``.

        Row ``r`` is global step ``first_step + r``: pass the round's first step, and
        ``start = step - first_step`` to resume mid-round.
        """
        return self.input.stream(
            indices, first_step=first_step, start=start, stop=stop, train=train
        )

    def eval_stream(self, batch_size: int) -> BatchStream:
        """Every example once, in order, as host ``(images, labels, weights)``; weight 0 pads."""
        return self.input.eval_stream(batch_size)


def make_feeder(x, y, source, mesh, *, data_cfg=None, seed: int = 0):
    """The feeder of a split; given ``data_cfg``, host sources stream through Grain."""
    if source is None:
        return DeviceFeeder(x, y, mesh)
    if data_cfg is None:
        return HostFeeder(source, y, mesh)
    return StreamingHostFeeder(
        source,
        y,
        mesh,
        seed=seed,
        augment=host_augment(data_cfg.name, data_cfg.get("augment", "default")),
        options=InputOptions.from_config(data_cfg),
    )
