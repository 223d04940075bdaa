"""The ImageNet input pipeline: a round's batches decoded by Grain workers, ahead of the step.

A round's plan (indices [steps, batch]) is known when the round starts, so every batch of
the round can be decoded before the loop asks for it. :meth:`HostInput.stream` hands the
rows of a plan, cut into work items of ``chunk`` images, to ``num_workers`` Grain worker
processes (0: threads of this process) and yields the decoded batches in plan order, with
about ``prefetch`` of them decoded ahead. Results never depend on the number of workers,
the prefetch depth, the chunk size or where a stream starts: a training example's crop
and flip are keyed on (seed, global step, position in the global batch).

Everything here is host numpy; putting batches on devices is the feeder's job
(``lgl_spl.train.feeding``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import threading
import time
import weakref

import numpy as np

from lgl_spl.data.imagenet_transforms import Transform
from lgl_spl.data.random_access import RandomAccessSource, decode_batch
from lgl_spl.errors import ConfigError

AUTO = -1


class InputPipelineError(RuntimeError):
    """A batch could not be produced (bad record, crashed worker); the stream is closed."""


def default_num_workers() -> int:
    """Every CPU this process may use but two (the loop's own thread and JAX's host work).

    One core decodes and crops about 200-300 ImageNet images/s with Pillow, so a GPU
    training ResNet-50 at 1,000-3,000 images/s needs every core a host can give; capped
    at 32, beyond which one process's IPC, not decoding, limits the rate.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus - 2, 32))


@dataclasses.dataclass(frozen=True)
class InputOptions:
    """How batches are produced (config ``data.num_workers``, ``data.prefetch``, ``data.chunk``).

    - ``num_workers``: Grain worker processes; 0: threads of this process; -1 (auto):
      :func:`default_num_workers`;
    - ``prefetch``: batches decoded ahead of the one the loop takes; 0 (auto): two per
      worker, at least 4. Grain's queues (one in each worker, one per worker in this
      process) keep at least 5 work items a worker in flight, so with workers the real
      depth is ``max(prefetch, 5 · workers · chunk / batch)`` batches;
    - ``chunk``: images per work item. A batch of B images is ceil(B / chunk) items decoded
      in parallel and joined here, so large batches neither wait on one worker nor
      multiply the memory held in flight.
    """

    num_workers: int = AUTO
    prefetch: int = 0
    chunk: int = 64

    @classmethod
    def from_config(cls, data_cfg) -> InputOptions:
        """From a config's ``data`` block (absent keys: their declared defaults)."""
        from lgl_spl import settings

        cfg = settings.complete(data_cfg, settings.DATA)
        return cls(int(cfg.num_workers), int(cfg.prefetch), int(cfg.chunk))

    def __post_init__(self):
        if self.num_workers < AUTO:
            raise ConfigError(f"data.num_workers must be >= -1 (-1 = auto), got {self.num_workers}")
        if self.prefetch < 0:
            raise ConfigError(f"data.prefetch must be >= 0 (0 = auto), got {self.prefetch}")
        if self.chunk < 1:
            raise ConfigError(f"data.chunk must be >= 1, got {self.chunk}")

    @property
    def workers(self) -> int:
        return default_num_workers() if self.num_workers == AUTO else self.num_workers

    @property
    def depth(self) -> int:
        return self.prefetch or max(4, 2 * self.workers)


@dataclasses.dataclass(frozen=True)
class _DecodeItem:
    """One work item, run in a worker: chunk ``t % chunks`` of plan row ``t // chunks``."""

    source: object  # a tfds data source; pickled into each worker, which reopens its files
    keys: np.ndarray  # [rows, columns] record keys
    first_step: int  # global step of row 0
    first_position: int  # position in the global batch of column 0
    chunk: int
    chunks: int  # work items a row
    transform: Transform

    def __call__(self, t: int) -> np.ndarray:
        row, c = divmod(int(t), self.chunks)
        lo = c * self.chunk
        keys = self.keys[row, lo : lo + self.chunk]
        positions = np.arange(len(keys)) + self.first_position + lo
        step = self.first_step + row
        return decode_batch(self.source, keys, self.transform, step=step, positions=positions)


def _worker_init(worker_index: int, worker_count: int) -> None:
    """In each worker: leave signals to the loop, and never outlive it.

    A scheduler's SIGTERM (or a terminal's SIGINT) often reaches the whole process group;
    the loop then finishes its step and checkpoints, which may need more batches, so the
    workers ignore both and are stopped by the stream's ``close``. If the loop dies
    without closing (SIGKILL, OOM), the worker is re-parented and exits within a second.
    """
    del worker_index, worker_count
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="lgl_spl-parent-watch").start()


def _grain_iterator(work: _DecodeItem, num_items: int, options: InputOptions):
    import grain  # only here: the synchronous path and the rest of the package do without it

    ds = grain.MapDataset.source(range(num_items)).map(work)
    workers, depth = options.workers, options.depth * work.chunks
    if workers == 0:
        # Pillow releases the GIL while it decodes and resizes: threads run in parallel.
        read = grain.ReadOptions(num_threads=min(depth, 16), prefetch_buffer_size=depth)
        return iter(ds.to_iter_dataset(read))
    from absl import flags

    if not flags.FLAGS.is_parsed():
        # Grain reads one of its absl flags when it starts workers; outside an absl app
        # (tests, notebooks, benchmarks) nothing has parsed them, and the defaults are right.
        flags.FLAGS.mark_as_parsed()
    # Measured: a worker holds 2 · buffer + 3 items in flight (its queue, this process's
    # per-worker buffer, the items in hand); choose the buffer to come close to ``depth``.
    buffer = max(1, (math.ceil(depth / workers) - 3) // 2)
    it_ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
    it_ds = it_ds.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=buffer),
        worker_init_fn=_worker_init,
    )
    return iter(it_ds)


def _close_iterator(it) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


class BatchStream:
    """An iterator of host batches in plan order; ``close()`` (or ``with``) stops its workers.

    Yields ``(images uint8 [B, S, S, 3], labels int32 [B])``, plus ``weights float32 [B]``
    for evaluation passes. Once the last batch is out, the workers are stopped in the
    background; a stream left before its end is stopped by ``close()`` at once, or else
    when garbage-collected or at interpreter exit. Any failure is raised once, as
    :class:`InputPipelineError`, after the workers are stopped.
    """

    def __init__(self, iterator, labels: np.ndarray, chunks: int, weights=None):
        self._it = iterator
        self._labels = labels  # [rows, B] int32, in yield order
        self._chunks = chunks
        self._weights = weights
        self._next = 0
        self._done = False
        self._closer = None  # the thread stopping the workers after the last batch
        # Closes the Grain iterator even if this object is never closed explicitly.
        self._finalizer = weakref.finalize(self, _close_iterator, iterator)

    def __len__(self) -> int:
        """Batches left to yield."""
        return 0 if self._done else len(self._labels) - self._next

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        try:
            parts = [next(self._it) for _ in range(self._chunks)]
        except StopIteration:
            self.close()
            raise
        except Exception as e:  # noqa: BLE001 - every failure becomes one clear error
            self.close()
            raise InputPipelineError(
                f"input pipeline failed at batch {self._next} of the stream: "
                f"{type(e).__name__}: {e}"
            ) from e
        i = self._next
        self._next += 1
        if i + 1 == len(self._labels):
            # Workers take about a second to exit; the loop need not wait for them. Not a
            # daemon thread: the interpreter's exit waits for it, before Grain's own clean-up.
            self._done = True
            self._closer = threading.Thread(target=self._finalizer, name="lgl_spl-stream-close")
            self._closer.start()
        # Plain ndarrays; a view keeps Grain's shared-memory block alive as long as it lives.
        images = np.asarray(parts[0]) if len(parts) == 1 else np.concatenate(parts)
        batch = (images, self._labels[i])
        return batch if self._weights is None else (*batch, self._weights[i])

    def close(self) -> None:
        """Stop the workers and free their buffers now; idempotent.

        After the last batch this returns at once: the workers are already being stopped.
        """
        self._done = True
        if self._closer is None:
            self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class HostInput:
    """One split's batches, decoded on the host: synchronously or streamed through Grain."""

    def __init__(
        self,
        source: RandomAccessSource,
        *,
        labels: np.ndarray | None = None,
        seed: int = 0,
        augment: bool = True,
        options: InputOptions | None = None,
    ):
        self.source = source
        self.labels = np.asarray(source.labels if labels is None else labels, np.int32)
        self.size = int(len(self.labels))
        self.seed = int(seed)
        self.augment = bool(augment)
        self.options = options or InputOptions()

    def _transform(self, train: bool) -> Transform:
        return self.source.transform(train=train and self.augment, seed=self.seed)

    def batch(self, indices, *, train: bool = False, step: int = 0) -> tuple:
        """Synchronous ``(images, labels)`` for positions ``indices`` (a global batch)."""
        indices = np.asarray(indices)
        keys = self.source.keys(indices)
        images = decode_batch(self.source.data_source, keys, self._transform(train), step=step)
        return images, self.labels[indices]

    def stream(
        self,
        indices,
        *,
        first_step: int,
        start: int = 0,
        stop: int | None = None,
        train: bool = True,
        columns: slice | None = None,
    ) -> BatchStream:
        """Rows ``start..stop-1`` of a plan's ``indices`` [S, B] as ``(images, labels)``.

        Row ``r`` is global step ``first_step + r`` (the step its randomness is keyed
        on): to resume at global step ``g`` of a round that began at ``first_step``, pass
        ``start=g - first_step``. ``columns``: only these positions of each global batch
        (a multi-host run's own rows); positions keep their global numbering.
        """
        indices = np.asarray(indices)
        if indices.ndim != 2:
            raise ValueError(f"indices must be [steps, batch], got shape {indices.shape}")
        stop = len(indices) if stop is None else min(int(stop), len(indices))
        start = max(0, int(start))
        cols = range(indices.shape[1])[columns or slice(None)]
        if cols.step != 1:
            raise ValueError("columns must be a contiguous slice")
        if not len(cols):
            raise ValueError(
                f"columns {columns} select no position of a batch of {indices.shape[1]}"
            )
        part = indices[start:stop, cols.start : cols.stop]
        return self._stream(part, first_step + start, cols.start, self._transform(train))

    def eval_stream(self, batch_size: int, *, columns: slice | None = None) -> BatchStream:
        """Every example once, in order, with the eval transform: ``(images, labels, weights)``.

        The last batch is padded with the last example at weight 0 (the loop's
        evaluation and scoring passes).
        """
        rows = -(-self.size // batch_size)
        flat = np.arange(rows * batch_size)
        weights = (flat < self.size).astype(np.float32).reshape(rows, batch_size)
        indices = np.minimum(flat, self.size - 1).reshape(rows, batch_size)
        cols = range(batch_size)[columns or slice(None)]
        part = indices[:, cols.start : cols.stop]
        w = weights[:, cols.start : cols.stop]
        return self._stream(part, 0, cols.start, self._transform(False), w)

    def _stream(self, part, first_step, first_position, transform, weights=None) -> BatchStream:
        chunk = min(self.options.chunk, max(1, part.shape[1]))
        work = _DecodeItem(
            source=self.source.data_source,
            keys=np.ascontiguousarray(self.source.keys(part)),
            first_step=int(first_step),
            first_position=int(first_position),
            chunk=chunk,
            chunks=-(-part.shape[1] // chunk),
            transform=transform,
        )
        labels = self.labels[part]
        if part.size == 0:
            return BatchStream(iter(()), labels, 1, weights)
        it = _grain_iterator(work, len(part) * work.chunks, self.options)
        return BatchStream(it, labels, work.chunks, weights)
