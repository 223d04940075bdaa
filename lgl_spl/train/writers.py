"""What a run writes besides checkpoints (leader process only).

- ``metrics.jsonl``: one row per evaluation; ``rounds.jsonl``: one row per round.
  Both are keyed by ``step``; on resume, rows after the restored step are dropped
  (the resumed run writes them again), so the finished files equal an
  uninterrupted run's.
- TensorBoard scalars (``tensorboard/``): the training loss, learning rate and
  selected fraction at every log line, and every number of an evaluation row.
- ``config.json``, ``run_info.json``, ``timing.json`` and, for methods with an
  embedding learner, ``embeddings/step_N.npz`` snapshots.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import numpy as np

from lgl_spl.errors import ConfigError


def read_rows(path: str) -> list[dict]:
    """The rows of a JSON-lines file; a last line cut short by a kill mid-write is dropped.

    (Its row came after the last checkpoint, so the resumed run writes it again.)
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


class JsonLines:
    """An append-only JSON-lines file, cut back to ``step <= resume_step`` when opened."""

    def __init__(self, path: str, *, resume_step: int):
        self.path = path
        rows = read_rows(path) if os.path.exists(path) else []
        kept = [r for r in rows if r["step"] <= resume_step]
        # Replace the file in one rename: a kill during the rewrite loses no row.
        with open(path + ".tmp", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
        os.replace(path + ".tmp", path)

    def write(self, row: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


class Writers:
    def __init__(self, workdir: str, *, resume_step: int, enabled: bool = True):
        self.workdir = workdir
        self.enabled = enabled
        self._tb = None
        self._tb_pending = False  # set below for the leader, which writes TensorBoard
        if not enabled:
            return
        self.metrics = JsonLines(os.path.join(workdir, "metrics.jsonl"), resume_step=resume_step)
        self.rounds = JsonLines(os.path.join(workdir, "rounds.jsonl"), resume_step=resume_step)
        # The TensorBoard writer is made with the first scalars, not before the first step.
        self._tb_pending = importlib.util.find_spec("tensorboardX") is not None
        self._resume_step = resume_step

    @property
    def tensorboard_dir(self) -> str | None:
        if self._tb is None and not self._tb_pending:
            return None
        return os.path.join(self.workdir, "tensorboard")

    def _writer(self):
        if self._tb_pending:
            self._tb_pending = False
            try:
                summary_writer = _import_summary_writer()
                self._tb = summary_writer(
                    os.path.join(self.workdir, "tensorboard"), purge_step=self._resume_step + 1
                )
            except ImportError:  # TensorBoard output is a convenience, never a requirement
                self._tb = None
        return self._tb

    def evaluation(self, row: dict) -> None:
        if not self.enabled:
            return
        self.metrics.write(row)
        self.scalars(row["step"], {k: v for k, v in row.items() if k not in ("step", "wall_time")})

    def round(self, row: dict) -> None:
        if self.enabled:
            self.rounds.write(row)

    def scalars(self, step: int, values: dict) -> None:
        """TensorBoard scalars: every finite number in ``values``."""
        if not self.enabled or self._writer() is None:
            return
        for key, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._tb.add_scalar(key, value, step)
        self._tb.flush()

    def run_files(self, config: dict, run_info: dict) -> None:
        """``config.json`` (the flattened config) and ``run_info.json`` (facts about the data)."""
        if not self.enabled:
            return
        _write_json(os.path.join(self.workdir, "config.json"), config, sort_keys=True)
        _write_json(os.path.join(self.workdir, "run_info.json"), run_info)

    def run_info(self, run_info: dict) -> None:
        """``run_info.json`` again (a finished run adds its ``final_step``)."""
        if self.enabled:
            _write_json(os.path.join(self.workdir, "run_info.json"), run_info)

    def label_noise(self, dataset) -> None:
        """``label_noise.npz``: which training labels were flipped, and both label sets."""
        if not self.enabled or dataset.noisy is None:
            return
        path = os.path.join(self.workdir, "label_noise.npz")
        np.savez(
            path + ".tmp.npz",
            noisy=dataset.noisy,
            labels=dataset.y_train,
            clean_labels=dataset.y_train_clean,
        )
        os.replace(path + ".tmp.npz", path)

    def snapshot(self, step: int, arrays: dict | None) -> None:
        """``embeddings/step_N.npz``, written whole or not at all."""
        if not self.enabled or arrays is None:
            return
        directory = os.path.join(self.workdir, "embeddings")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"step_{step:08d}.npz")
        np.savez(path + ".tmp.npz", student_step=step, **arrays)
        os.replace(path + ".tmp.npz", path)

    def npz(self, name: str, arrays: dict) -> None:
        """``name`` (an .npz file in the workdir), written whole or not at all."""
        if not self.enabled:
            return
        path = os.path.join(self.workdir, name)
        np.savez(path + ".tmp.npz", **arrays)
        os.replace(path + ".tmp.npz", path)

    def timing(self, phases: dict, total: float) -> None:
        """Wall time by phase (kept out of metrics.jsonl, which must replay exactly)."""
        if not self.enabled:
            return
        timing = dict(phases)
        timing["total"] = total
        timing["student_training"] = total - sum(phases.values())
        _write_json(os.path.join(self.workdir, "timing.json"), timing)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _write_json(path: str, value, *, sort_keys: bool = False) -> None:
    """Write a JSON file whole or not at all (a process stopped mid-write leaves the old one)."""
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=1, sort_keys=sort_keys)
    os.replace(path + ".tmp", path)


def _import_summary_writer():
    """tensorboardX's ``SummaryWriter``, imported without PyTorch.

    tensorboardX imports PyTorch whenever it is installed (seconds) only to accept torch
    tensors; the scalars written here are Python numbers.
    """
    if "torch" in sys.modules:
        from tensorboardX import SummaryWriter

        return SummaryWriter
    sys.modules["torch"] = None  # `import torch` raises ImportError meanwhile
    try:
        from tensorboardX import SummaryWriter
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return SummaryWriter
