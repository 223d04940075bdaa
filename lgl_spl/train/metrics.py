"""metrics.jsonl (one JSON object per evaluation), TensorBoard scalars, progress lines."""

from __future__ import annotations

import json
import math
import os
import sys
import time

from lgl_spl.errors import ConfigError


def _read_rows(path: str) -> list[dict]:
    """The rows of a metrics.jsonl; a last line cut short by a kill mid-write is dropped.

    (Its evaluation came after the last checkpoint, so the resumed run writes it again.)
    """
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1 or line.endswith("\n"):
                raise ConfigError(
                    f"{path} line {i + 1} is not a JSON object; the file was changed by "
                    "something else than this program: fix or remove it to resume"
                ) from None
    return rows


class MetricsWriter:
    """Appends evaluation rows; on resume, forgets rows past the restored step."""

    def __init__(self, workdir: str, *, resume_step: int, enabled: bool = True):
        self.enabled = enabled
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = None
        if not enabled:
            return
        rows = _read_rows(self.path) if os.path.exists(self.path) else []
        kept = [r for r in rows if r["step"] <= resume_step]
        # Replace the file in one rename: a kill during the rewrite loses no row.
        with open(self.path + ".tmp", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
        os.replace(self.path + ".tmp", self.path)
        try:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(
                os.path.join(workdir, "tensorboard"), purge_step=resume_step + 1
            )
        except ImportError:  # TensorBoard output is a convenience, never a requirement
            self._tb = None

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for key, value in row.items():
                if isinstance(value, int | float) and key not in ("step", "wall_time"):
                    self._tb.add_scalar(key, value, row["step"])
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


class Progress:
    """One line every ``every`` steps: loss, steps/s and the time left."""

    def __init__(self, total_steps: int, every: int, *, start_step: int = 0, enabled: bool = True):
        self.total = total_steps
        self.every = max(every, 1)
        self.enabled = enabled
        self._t0 = time.perf_counter()
        self._s0 = start_step

    def update(self, step: int, round_index: int, loss: float | None = None) -> None:
        if not self.enabled or (step % self.every and step != self.total):
            return
        # Includes compilation in the first lines; the rate settles as steps accumulate.
        rate = (step - self._s0) / max(time.perf_counter() - self._t0, 1e-9)
        eta = (self.total - step) / rate if rate and math.isfinite(rate) and rate > 0 else math.nan
        loss_text = f" loss {loss:.4f}" if loss is not None else ""
        eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "--:--:--"
        print(
            f"step {step}/{self.total} round {round_index}{loss_text} "
            f"{rate:.1f} steps/s ETA {eta_text}",
            file=sys.stdout,
            flush=True,
        )
