"""Timing helpers shared by the benchmarks: best-of-n wall time after warm-up."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import jax


def best_time(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> float:
    """Minimum wall time of ``fn()`` in seconds (outputs are blocked on)."""
    for _ in range(warmup):
        jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def machine() -> str:
    """One line describing where a benchmark ran."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"jax {jax.__version__}, devices {jax.devices()}"
    )
