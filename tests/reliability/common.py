"""Helpers shared by the reliability tests: tiny runs, crash hooks, subprocess runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from absl import flags

from lgl_spl import main as main_module
from lgl_spl.train import loop as loop_module
from lgl_spl.train.checkpoints import Checkpoints
from lgl_spl.train.console import Progress
from tests.helpers import REPO, cli_env, read_metrics, read_rows
from tests.reliability import tiny

TINY = os.path.join("tests", "reliability", "tiny.py")
METHODS = tuple(tiny.METHODS)


def config(name: str, **train):
    c = tiny.get_config(name)
    c.train.update(train)
    return c


class Crash(Exception):
    """Stands for a SIGKILL: raised from inside the loop, nothing after it runs."""


def interrupt_at(monkeypatch, step: int, *, how: str = "crash") -> None:
    """Make the next run stop right after student step ``step``.

    The hook is the per-step progress line, which runs after that step's metrics
    row (if any) is written and before its checkpoint is saved: the worst moment.
    ``how='sigterm'`` sends the process a real SIGTERM there instead.
    """

    class Hooked(Progress):  # the real one, even when a hook is already in place
        def update(self, s, *args, **kwargs):
            super().update(s, *args, **kwargs)
            if s == step:
                if how == "sigterm":
                    os.kill(os.getpid(), signal.SIGTERM)
                else:
                    raise Crash(s)

    monkeypatch.setattr(loop_module, "Progress", Hooked)


def crash_at(monkeypatch, step: int, config, workdir) -> None:
    """Train ``config`` in ``workdir`` and crash it right after student step ``step``."""
    interrupt_at(monkeypatch, step)
    with pytest.raises(Crash):
        loop_module.train_and_evaluate(config, str(workdir))
    monkeypatch.undo()


def latest_checkpoint(workdir) -> int | None:
    ckpt = Checkpoints(os.path.join(str(workdir), "checkpoints"))
    try:
        return ckpt.latest_step()
    finally:
        ckpt.close()


def kill_points(seed: int, count: int, *, low: int = 1, high: int = tiny.STEPS - 1) -> list[int]:
    """``count`` distinct steps in [low, high], increasing, from a seeded generator."""
    rng = np.random.default_rng(seed)
    return sorted(int(s) for s in rng.choice(np.arange(low, high + 1), count, replace=False))


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m lgl_spl.main ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "lgl_spl.main", *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(workdir, *extra: str, method: str = "random", stdout=subprocess.PIPE):
    """``python -m lgl_spl.main`` on the tiny config's ``method`` in ``workdir``, started
    (stderr piped, text)."""
    args = ("--config", f"{TINY}:{method}", "--workdir", str(workdir), *extra)
    return subprocess.Popen(
        [sys.executable, "-m", "lgl_spl.main", *args],
        cwd=REPO,
        env=cli_env(),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def cli_killed_at(step: int, *args: str, timeout: float = 180) -> int:
    """Start the CLI (with a progress line every step) and SIGKILL it once it passes ``step``.

    Returns the last step it reported. The process may be a step or two further on
    when the signal lands; whatever it was doing (a step, an evaluation, a checkpoint
    write) is cut short.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "lgl_spl.main", *args, "--config.train.log_every=1"],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + timeout
    seen = 0
    try:
        for line in proc.stderr:
            progress = re.search(r" step (\d+)/\d+ \|", line)
            if progress:
                seen = int(progress.group(1))
                if seen >= step:
                    proc.send_signal(signal.SIGKILL)
                    break
            if time.time() > deadline:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        proc.stderr.close()
    assert seen >= step, f"the run ended (code {proc.returncode}) before step {step}"
    return seen


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def same_metrics(a, b) -> None:
    """metrics.jsonl and rounds.jsonl of two workdirs are equal row for row (wall times aside)."""
    ra, rb = read_metrics(str(a)), read_metrics(str(b))
    assert [r["step"] for r in ra] == [r["step"] for r in rb]
    for x, y in zip(ra, rb, strict=True):
        assert x == y, {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}
    rounds_a, rounds_b = (read_rows(str(w), "rounds.jsonl") for w in (a, b))
    assert [r["round"] for r in rounds_a] == [r["round"] for r in rounds_b]  # none lost or doubled
    for x, y in zip(rounds_a, rounds_b, strict=True):
        x, y = ({k: v for k, v in r.items() if k != "time"} for r in (x, y))
        assert x == y, {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}


def reset_flags() -> None:
    """Forget the previous parse, including the --config.KEY flags it defined on the fly."""
    for name in [n for n in flags.FLAGS if n.startswith("config.")]:
        delattr(flags.FLAGS, name)
    flags.FLAGS.unparse_flags()


def call_main(monkeypatch, capsys, *argv: str) -> tuple[int, str, float]:
    """``lgl_spl.main.main`` in-process with ``argv``: (exit code, stderr, seconds)."""
    reset_flags()
    monkeypatch.setattr(sys, "argv", ["lgl_spl.main", *argv])
    capsys.readouterr()
    t0 = time.time()
    try:
        with pytest.raises(SystemExit) as info:
            main_module.main()
    finally:
        reset_flags()
    return info.value.code, capsys.readouterr().err, time.time() - t0
