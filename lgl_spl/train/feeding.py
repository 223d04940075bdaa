"""Feeders turn a global batch of indices into the arguments of a jitted step.

In memory, the whole split sits on every device and only the indices travel
(``DeviceFeeder``); for sources read from disk (ImageNet) the same indices are
decoded on the host, a whole round's batches ahead, by Grain workers
(``StreamingHostFeeder``). The loop and the evaluator use the two alike:
``round_batches`` for a round's steps, ``pass_batches`` for a pass over a split.
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

    def round_batches(
        self, indices: np.ndarray, *, first_step: int, start: int, stop: int, weights=None
    ):
        """The step arguments of rows ``start..stop-1`` of a round's plan, in order
        (``x, y, indices``, then the row of ``weights`` when given), as
        :func:`parallel.step_batches` hands them to the step."""
        del first_step  # augmentation happens on device, keyed by the step there
        rows = parallel.step_batches(np.asarray(indices[start:stop], np.int32), self.mesh)
        if weights is None:
            return _Rows((self.x, self.y, row) for row in rows)
        placed = parallel.step_batches(np.asarray(weights[start:stop], np.float32), self.mesh)
        return _Rows((self.x, self.y, row, w) for row, w in zip(rows, placed, strict=True))

    def pass_batches(self, batch_size: int):
        """Every example once, in order: ``(step arguments, weights)``; weight 0 pads."""
        for idx, weights in parallel.padded_batches(np.arange(self.size), batch_size):
            yield self.batch(idx), weights


class StreamingHostFeeder:
    """Images decoded on the host by Grain workers, ahead of the step; labels in memory.

    ``batch(indices)`` is the synchronous path (evaluation transform). A round's batches
    and evaluation passes are streams, decoded ahead by ``options.num_workers``
    processes while the devices work.
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

    def round_batches(
        self, indices: np.ndarray, *, first_step: int, start: int, stop: int, weights=None
    ):
        """Rows ``start..stop-1`` of a round's plan, decoded ahead (train transform), with
        the row of ``weights`` last when given.

        Row ``r`` is global step ``first_step + r``: its crops depend on that alone, so a
        run resumed mid-round is fed exactly the same images.
        """
        stream = self.input.stream(indices, first_step=first_step, start=start, stop=stop)
        if weights is None:
            return _Rows((self.put(*batch) for batch in stream), stream)
        put = lambda w: parallel.put_batch(np.asarray(w, np.float32), self.mesh)
        rows = ((*self.put(*b), put(w)) for b, w in zip(stream, weights[start:stop], strict=True))
        return _Rows(rows, stream)

    def pass_batches(self, batch_size: int):
        """Every example once, in order (evaluation transform): ``(step arguments, weights)``."""
        with self.input.eval_stream(batch_size) as stream:
            for images, labels, weights in stream:
                yield self.put(images, labels), weights


class _Rows:
    """An iterator over a round's step arguments that can be closed early (its workers)."""

    def __init__(self, rows, stream: BatchStream | None = None):
        self._rows = iter(rows)
        self._stream = stream

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._rows)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


def make_feeder(x, y, source, mesh, *, data_cfg=None, seed: int = 0):
    """The feeder of a split: in memory on the devices, or streamed from a host source."""
    if source is None:
        return DeviceFeeder(x, y, mesh)
    name = data_cfg.name if data_cfg is not None else ""
    choice = data_cfg.augment if data_cfg is not None else "none"
    return StreamingHostFeeder(
        source,
        y,
        mesh,
        seed=seed,
        augment=host_augment(name, choice),
        options=InputOptions.from_config(data_cfg) if data_cfg is not None else None,
    )
