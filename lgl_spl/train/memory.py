"""Memory a run's settings imply, checked before anything is built.

A setting that sizes an array (a step's candidates, a batch, clusters × examples, an
image size, the in-memory limit) can ask for more memory than the machine has; the run
would then die deep in numpy or XLA with a traceback. These checks estimate what the run
will allocate and stop it with one line naming the setting, the memory and the limit.

Every estimate is a *lower bound*: an array the run certainly holds, counted at its
stored size, with everything around it (the model's activations, copies, workspace)
left out. So a run refused here cannot fit, and no run that fits is ever refused. The
limits: the host's physical memory (or its container's cap, when lower) for host arrays;
for device arrays, each device's memory where JAX reports it (``bytes_limit``), else the
host's (CPU devices share it, so their shares are added up).

Host: a round's plan, [steps_per_round, width] int32 indices and float32 weights (width:
``train.batch_size``, or a step-level selector's ``method.candidates``). Devices: a step's
batch or candidates (width × one example's bytes), an evaluation batch, SPLD's and
ADVisE's per-class k-means distances [classes, largest class, K] float32, ADVisE's magnet
batch (M × D images and their embeddings) and, on devices with memory of their own, the
in-memory splits (each device holds a copy). Folder images are decoded into memory only
up to ``data.in_memory_limit_mb``, which must itself fit in the host's memory.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from lgl_spl.errors import ConfigError
from lgl_spl.util import ceil_div

PLAN_SLOT_BYTES = 8  # an int32 index and a float32 weight
FLOAT32 = 4


# ---- the estimates (bytes) -------------------------------------------------------------


def plan_bytes(steps_per_round: int, width: int) -> int:
    """A round's plan: [steps_per_round, width] int32 indices + float32 weights."""
    return steps_per_round * width * PLAN_SLOT_BYTES


def batch_bytes(batch: int, example_bytes: int) -> int:
    """``batch`` examples at their stored size (the images a step gathers or is handed)."""
    return batch * example_bytes


def eval_batch(num_examples: int, eval_batch_size: int, num_devices: int) -> int:
    """The batch an evaluation pass really uses: ``eval_batch_size`` evenly filled, never
    more than the split (rounded up to the devices), as ``parallel.pass_batch_size``."""
    if num_examples <= 0:
        return 0
    size = ceil_div(num_examples, ceil_div(num_examples, eval_batch_size))
    return ceil_div(size, num_devices) * num_devices


def kmeans_bytes(num_classes: int, largest_class: int, k: int) -> int:
    """Per-class k-means' squared distances: [classes, largest class, K] float32."""
    return num_classes * largest_class * k * FLOAT32


def magnet_bytes(m: int, d: int, example_bytes: int, embed_dim: int) -> int:
    """A magnet batch: M × D images at their stored size and their float32 embeddings."""
    return m * d * (example_bytes + embed_dim * FLOAT32)


def human(n: float) -> str:
    """``n`` bytes in binary units: '512 B', '3.0 KiB', '85.7 GiB'."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


# ---- the limits ------------------------------------------------------------------------


def _cgroup_cap() -> int | None:
    """The container's memory cap (cgroup v2, then v1), None when there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None


def host_memory_bytes() -> int:
    """The host's physical memory, or its container's cap when that is lower."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    cap = _cgroup_cap()
    return min(total, cap) if cap else total


@dataclasses.dataclass(frozen=True)
class Limit:
    bytes: int
    text: str  # "the host's memory (23.5 GiB)"
    on: str  # where the arrays go: "the host", "each device", "the devices"

    @property
    def per_device(self) -> bool:
        """Compare each device's share (else the sum: the devices share the host's memory)."""
        return self.on == "each device"


def host_limit() -> Limit:
    b = host_memory_bytes()
    return Limit(b, f"the host's memory ({human(b)})", "the host")


def device_limit(devices) -> Limit:
    """The smallest ``bytes_limit`` of ``devices`` (the local ones), else the host's memory."""
    import jax

    local = [d for d in devices if d.process_index == jax.process_index()] or jax.local_devices()
    limits = []
    for d in local:
        try:
            stats = d.memory_stats()
        except Exception:  # noqa: BLE001 - a platform without memory statistics
            stats = None
        if stats and stats.get("bytes_limit"):
            limits.append(int(stats["bytes_limit"]))
    if limits and len(limits) == len(local):
        b = min(limits)
        return Limit(b, f"a device's memory ({human(b)})", "each device")
    b = host_memory_bytes()
    return Limit(b, f"the host's memory ({human(b)}), which the devices share", "the devices")


def _check(setting: str, what: str, total: int, limit: Limit, *, per_device: int | None = None):
    need = per_device if limit.per_device and per_device is not None else total
    if need > limit.bytes:
        raise ConfigError(
            f"{setting}: {what} needs at least {human(need)} on {limit.on}, more than {limit.text}"
        )


# ---- the checks ------------------------------------------------------------------------


def check_in_memory_limit(config) -> None:
    """Before the data are read: folder images are decoded into memory up to the limit."""
    data = config.data
    if data.name != "folder" or data.npz_path:
        return
    limit = host_limit()
    asked = float(data.in_memory_limit_mb) * 2**20
    if asked > limit.bytes:
        raise ConfigError(
            f"data.in_memory_limit_mb={float(data.in_memory_limit_mb):g} lets up to "
            f"{human(asked)} of decoded images be held in memory, more than {limit.text}; "
            "lower it (images beyond it are streamed from disk)"
        )


def _shape(shape) -> str:
    return "×".join(str(int(s)) for s in shape)


def check_sizes(config, dataset, mesh) -> None:
    """After the data are loaded, before the method, the model or any plan is built."""
    from lgl_spl.samplers import get_method, online

    train, data, method = config.train, config.data, config.method
    n_dev = int(mesh.size)
    host, device = host_limit(), device_limit(list(mesh.devices.flat))
    x = dataset.x_train
    example = int(np.prod(x.shape[1:], dtype=np.int64)) * x.dtype.itemsize
    images = f"{_shape(x.shape[1:])} {x.dtype.name}"
    sized = data.name in ("folder", "imagenet2012") and int(data.image_size) > 0
    size_note = f" with data.image_size={int(data.image_size)}" if sized else ""
    n = int(dataset.y_train.shape[0])
    batch = int(train.batch_size)
    steps = ceil_div(n, batch)

    def sharded(setting: str, what: str, rows: int) -> None:
        total = batch_bytes(rows, example)
        _check(setting, what, total, device, per_device=ceil_div(rows, n_dev) * example)

    # A step's batch (or its candidates), then the round's plan of them.
    sharded(f"train.batch_size={batch}{size_note}", f"a batch of {batch} images of {images}", batch)
    width, setting = batch, f"train.batch_size={batch}"
    selecting = get_method(method.name).step_selector is not None and "candidates" in method
    if selecting:
        width = online.num_candidates(method, batch)
        setting = f"method.candidates={width}"
    _check(
        setting,
        f"a round's plan ({steps} steps × {width}, int32 indices and float32 weights)",
        plan_bytes(steps, width),
        host,
    )
    if selecting:
        sharded(f"{setting}{size_note}", f"a step's {width} candidate images of {images}", width)
    # An evaluation batch (capped at the split).
    held = max(int(dataset.y_test.shape[0]), int(dataset.y_val.shape[0]))
    size = eval_batch(held, int(train.eval_batch_size), n_dev)
    sharded(
        f"train.eval_batch_size={int(train.eval_batch_size)}{size_note}",
        f"an evaluation batch of {size} images of {images}",
        size,
    )
    # Per-class k-means (spld, advise) and the magnet batch (advise).
    if "num_clusters" in method:
        k = int(method.num_clusters)
        counts = np.bincount(np.asarray(dataset.y_train), minlength=int(dataset.num_classes))
        largest, classes = int(counts.max(initial=0)), int(dataset.num_classes)
        _check(
            f"method.num_clusters={k}",
            f"k-means per class ({classes} classes × {largest} examples in the largest × "
            f"{k} clusters, float32 distances)",
            kmeans_bytes(classes, largest, k),
            device,
        )
    if "examples_per_cluster" in method:
        m, d = int(method.clusters_per_batch), int(method.examples_per_cluster)
        dim = int(method.embed_dim)
        _check(
            f"method.clusters_per_batch={m} × method.examples_per_cluster={d}",
            f"a magnet batch of {m * d} images of {images} and their {dim}-d embeddings",
            magnet_bytes(m, d, example, dim),
            device,
        )
    # In-memory splits sit on every device (on CPU devices they are the host's arrays,
    # already held).
    if device.per_device and dataset.train_source is None:
        held_bytes = sum(int(a.nbytes) for a in (x, dataset.x_test, dataset.x_val))
        count = sum(len(a) for a in (x, dataset.x_test, dataset.x_val))
        name = f"data.image_size={int(data.image_size)}" if sized else f"dataset {data.name!r}"
        what = f"the in-memory data ({count} images of {images})"
        _check(name, what, held_bytes, device, per_device=held_bytes)
