"""Data parallelism: a ('data',) mesh, replicated state, batch-sharded inputs; multi-host set-up.

Multi-process runs (``jax.distributed``) use the same code: every process builds
the same global arrays from the same seed, puts its own part on its own devices,
and reads results back with :func:`to_host`.
"""

from __future__ import annotations

import os
import signal
import sys

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lgl_spl.util import ceil_div

_DISTRIBUTED_ENV = ("JAX_COORDINATOR_ADDRESS", "COORDINATOR_ADDRESS")


def maybe_initialize_distributed() -> None:
    """Join a multi-process run when the environment describes one.

    ``jax.distributed.initialize()`` reads SLURM, Open MPI and Cloud TPU
    environments itself; a plain multi-process launch (``launch/multiprocess.py``)
    sets ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``.
    """
    if jax.distributed.is_initialized():
        return
    explicit = any(os.environ.get(k) for k in _DISTRIBUTED_ENV)
    slurm = int(os.environ.get("SLURM_NTASKS", "1")) > 1
    if explicit:
        jax.distributed.initialize(
            coordinator_address=os.environ.get("JAX_COORDINATOR_ADDRESS")
            or os.environ["COORDINATOR_ADDRESS"],
            num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
            process_id=int(os.environ["JAX_PROCESS_ID"]),
        )
    elif slurm:
        jax.distributed.initialize()
    else:
        return
    sys.excepthook = _exit_on_uncaught
    if jax.default_backend() == "cpu":
        # gloo gives the processes 30 s to meet when it sets up its communicator (at the
        # first collective); on a loaded machine their start-ups (data, compilation)
        # drifted further apart than that. Set it up now, while the processes are still
        # in step after the start-up handshake.
        multihost_utils.sync_global_devices("lgl_spl: collectives up")


def _exit_on_uncaught(exc_type, exc, tb) -> None:
    """Report and exit at once: the normal exit waits for the other processes at a
    shutdown barrier, while they wait for this one in a collective."""
    sys.__excepthook__(exc_type, exc, tb)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(1)


def make_mesh(num_devices: int = 0) -> Mesh:
    """The first ``num_devices`` devices (0 = all, of all processes) on one 'data' axis."""
    devices = jax.devices()
    if num_devices:
        devices = devices[:num_devices]
    return Mesh(np.asarray(devices), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def put_replicated(tree, mesh: Mesh):
    """Place a pytree (identical on every process) on every device of ``mesh``."""
    sharding = replicated(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda x: _replicate_global(x, sharding), tree)


def _replicate_global(x, sharding: NamedSharding) -> jax.Array:
    if isinstance(x, jax.Array):
        if not x.is_fully_addressable:
            return x if x.sharding == sharding else jax.device_put(x, sharding)
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            # Typed keys have no host form: move their raw bits, rewrap on device.
            data = _replicate_global(jax.random.key_data(x), sharding)
            return _wrap_key(data, jax.random.key_impl(x), sharding)
    # Replicated: each process's local data is the whole array, so nothing is exchanged.
    return jax.make_array_from_process_local_data(sharding, np.asarray(x))


def _wrap_key(data: jax.Array, impl, sharding: NamedSharding) -> jax.Array:
    wrap = jax.jit(lambda d: jax.random.wrap_key_data(d, impl=impl), out_shardings=sharding)
    return wrap(data)


def put_batch(global_array: np.ndarray, mesh: Mesh) -> jax.Array:
    """Shard a host array whose leading axis is the global batch.

    Every process computes the same global array from the same seed and feeds
    only the rows of its own devices, so multi-host runs need no data exchange.
    """
    sharding = batch_sharded(mesh)
    if jax.process_count() == 1:
        return jax.device_put(global_array, sharding)
    return jax.make_array_from_callback(
        global_array.shape, sharding, lambda index: global_array[index]
    )


def step_batches(rows, mesh: Mesh) -> list:
    """The global batches ``rows`` (of one shape) as arguments of a jitted step.

    In one process they stay numpy rows: jit places each by its ``in_shardings`` as it
    dispatches the step, which measured faster than steps fed rows placed beforehand
    (``launch/bench_step.py``). Across processes each is placed by :func:`put_batch`.
    """
    if jax.process_count() == 1:
        return list(rows)
    return [put_batch(r, mesh) for r in rows]


def pass_batch_size(n: int, max_size: int, multiple: int = 1) -> int:
    """The batch size of one pass over ``n`` examples: as few batches as ``max_size``
    allows, evenly filled (1,438 examples are two batches of 719, not two of 1,000),
    rounded up to a multiple of ``multiple`` (the mesh size)."""
    size = ceil_div(n, ceil_div(n, max_size))
    return ceil_div(size, multiple) * multiple


def padded_batches(indices: np.ndarray, size: int):
    """``(idx, weights)`` batches of exactly ``size`` covering ``indices`` in order.

    The last batch is padded with its last real index at weight 0, so every batch
    has one shape (one compilation) and padding never reads outside the data.
    """
    indices = np.asarray(indices, np.int32)
    for start in range(0, len(indices), size):
        chunk = indices[start : start + size]
        weights = np.zeros(size, np.float32)
        weights[: len(chunk)] = 1.0
        yield (chunk if len(chunk) == size else _pad(chunk, size)), weights


def _pad(chunk: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([chunk, np.full(size - len(chunk), chunk[-1], np.int32)])


def to_host(x) -> np.ndarray:
    """The whole value of ``x`` as a numpy array, on every process.

    Batch-sharded outputs of a multi-process run are spread over processes, so
    they are gathered; in one process this is ``jax.device_get``.
    """
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))


def is_leader() -> bool:
    """Process 0 writes logs, metrics and drives checkpoint coordination."""
    return jax.process_index() == 0


class PreemptionWatch:
    """SIGTERM and Ctrl-C (SIGINT): finish the current step, then stop at a step all
    processes agree on (after saving a checkpoint there).

    In one process a Python handler sets a flag; a second signal stops the process at
    once (one line, no traceback: the checkpoints on disk are complete or set aside on
    the next start). In a multi-process run each process may get the signal at a
    different step, and a checkpoint saved at different steps would deadlock; there
    JAX's preemption service (which handles SIGTERM itself once ``jax.distributed`` is
    up) picks the common step, and Ctrl-C ends each process at once.
    """

    SIGNALS = {signal.SIGTERM: ("SIGTERM", 143), signal.SIGINT: ("Ctrl-C", 130)}

    def __init__(self, *, on_second=None):
        self.received: int | None = None  # the first signal's number
        self._previous: dict = {}
        self._multi = jax.process_count() > 1
        self._on_second = on_second  # () -> str: what the at-once exit line says is kept

    def start(self) -> None:
        if not self._multi:
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:  # e.g. a background job's SIGINT
                    self._previous[sig] = signal.signal(sig, self._set)

    def stop(self) -> None:
        """Give the signals back to whoever had them before :meth:`start`."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    @property
    def name(self) -> str:
        return self.SIGNALS.get(self.received, ("SIGTERM", 143))[0]

    @property
    def exit_code(self) -> int:
        return self.SIGNALS.get(self.received, ("SIGTERM", 143))[1]

    def _set(self, signum, _frame) -> None:
        name = self.SIGNALS[signum][0]
        if self.received is not None:  # the second signal: stop now
            kept = self._on_second() if self._on_second else ""
            sys.stdout.flush()
            sys.stderr.write(f"error: {name} again: stopped at once; {kept}\n")
            sys.stderr.flush()
            os._exit(self.exit_code)  # the first signal's: what the run was stopped by
        self.received = signum
        sys.stderr.write(
            f"{name}: stopping after this step with a checkpoint ({name} again stops at once)\n"
        )
        sys.stderr.flush()

    def reached(self, step: int) -> bool:
        """Whether to save and stop after ``step``; call it once per step on every process."""
        if self._multi:
            return multihost_utils.reached_preemption_sync_point(step)
        return self.received is not None
