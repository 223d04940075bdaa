"""What a person watching a run reads: timestamped lines on stderr (leader process only).

Lines go through the ``lgl_spl`` logger; ``python -m lgl_spl.main`` gives it a
timestamped handler (:func:`setup_logging`), and a program calling
``train_and_evaluate`` can configure it like any other logger.
"""

from __future__ import annotations

import logging
import math
import sys
import time

import jax

log = logging.getLogger("lgl_spl")

LONG_PHASE_S = 2.0  # round set-up phases at least this long are announced


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced after set-up)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        del value


def setup_logging(level: int = logging.INFO) -> None:
    """One handler, ``2026-11-30 05:06:02 message`` lines on stderr."""
    if any(isinstance(h, _Stderr) for h in log.handlers):
        return
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def info(message: str) -> None:
    if jax.process_index() == 0:
        log.info(message)


def seconds(s: float) -> str:
    """``3.2 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def percent(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


class Progress:
    """One line every ``every`` steps: training loss, learning rate, steps/s, time left.

    ``update`` is called after every step, once its evaluation row (if any) is
    written and before its checkpoint is saved.
    """

    def __init__(self, total_steps: int, every: int, *, start_step: int = 0):
        self.total = total_steps
        self.every = max(every, 1)
        self._t0 = time.perf_counter()
        self._s0 = start_step

    def due(self, step: int) -> bool:
        return step % self.every == 0 or step == self.total

    def update(self, step: int, round_index: int, loss: float | None, lr: float | None) -> None:
        if not self.due(step):
            return
        # Includes compilation in the first lines; the rate settles as steps accumulate.
        rate = (step - self._s0) / max(time.perf_counter() - self._t0, 1e-9)
        left = (self.total - step) / rate if rate > 0 and math.isfinite(rate) else math.nan
        parts = [f"step {step}/{self.total}", f"round {round_index}"]
        if loss is not None:
            parts.append(f"train loss {loss:.4f}")
        if lr is not None:
            parts.append(f"lr {lr:.4g}")
        parts.append(f"{rate:.1f} steps/s")
        parts.append(f"{seconds(left)} left" if math.isfinite(left) else "-- left")
        info(" | ".join(parts))
