"""Data parallelism: a ('data',) mesh, replicated state, batch-sharded inputs; multi-host set-up."""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

_DISTRIBUTED_ENV = ("JAX_COORDINATOR_ADDRESS", "COORDINATOR_ADDRESS")


def maybe_initialize_distributed() -> None:
    """Join a multi-process run when the environment describes one.

    ``jax.distributed.initialize()`` reads SLURM, Open MPI and Cloud TPU
    environments itself; a plain multi-process launch sets
    ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``.
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
    """Place a host pytree (identical on every process) on every device."""
    sharding = replicated(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree
    )


def put_batch(global_array: np.ndarray, mesh: Mesh) -> jax.Array:
    """Shard a host array whose leading axis is the global batch.

    Every process computes the same global array from the same seed and feeds
    only its own slice, so multi-host runs need no data exchange.
    """
    sharding = batch_sharded(mesh)
    if jax.process_count() == 1:
        return jax.device_put(global_array, sharding)
    n = global_array.shape[0] // jax.process_count()
    start = jax.process_index() * n
    return jax.make_array_from_process_local_data(
        sharding, global_array[start : start + n], global_array.shape
    )


def is_leader() -> bool:
    """Process 0 writes logs, metrics and drives checkpoint coordination."""
    return jax.process_index() == 0
