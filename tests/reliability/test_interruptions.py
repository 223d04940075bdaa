"""Interruptions: a killed, crashed or preempted run, re-run, ends exactly as if never stopped.

Also: a half-written checkpoint is never restored, and resuming with a config that
would change the results is refused (unless ``--allow_config_change``).
Related existing tests: tests/train/test_engine.py::test_killed_and_terminated_run_resumes_exactly
(real SIGKILL + SIGTERM of the CLI, ``random``) and
tests/samplers/test_methods_end_to_end.py::test_method_runs_and_resumes_exactly.
"""

import os
import shutil
import sys

import numpy as np
import pytest

from lgl_spl import main as main_module
from lgl_spl.errors import ConfigError
from lgl_spl.train import loop as loop_module
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.checkpoints import COMMIT_MARKER, Checkpoints
from tests.helpers import read_metrics
from tests.reliability import tiny
from tests.reliability.common import (
    METHODS,
    TINY,
    Crash,
    call_main,
    cli,
    cli_killed_at,
    config,
    error_lines,
    interrupt_at,
    kill_points,
    latest_checkpoint,
    reset_flags,
    same_metrics,
)

# Resumed runs checkpoint every 9 steps (mid-round, mid-evaluation-interval); the
# reference only at its evaluations. checkpoint_every does not change the results.
CKPT_EVERY = 9


def _fake_unfinished(ckpt_dir: str, step: int, like_step: int) -> None:
    """What a process killed mid-save (or a broken copy) could leave for ``step``: an
    orbax temporary directory, and a step directory without its commit marker and with
    half of its arrays."""
    src = os.path.join(ckpt_dir, str(like_step))
    shutil.copytree(src, os.path.join(ckpt_dir, f"{step}.orbax-checkpoint-tmp-1700000000"))
    dst = os.path.join(ckpt_dir, str(step))
    shutil.copytree(src, dst)
    os.remove(os.path.join(dst, COMMIT_MARKER))
    for item in os.listdir(os.path.join(dst, "state")):
        if item.startswith("ocdbt") or item == "d":
            shutil.rmtree(os.path.join(dst, "state", item))


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS)
def test_crash_and_sigterm_at_random_steps_replay_exactly(tmp_path, monkeypatch, name):
    """A crash and a SIGTERM at two seeded-random steps, with an unfinished newer checkpoint
    left on disk after the crash; the finished metrics.jsonl equals an uninterrupted run's."""
    ref, run = tmp_path / "ref", tmp_path / "run"
    train_and_evaluate(config(name), str(ref))
    # A method of short rounds (infobatch) ends before tiny.STEPS: stop it within its run.
    last = read_metrics(str(ref))[-1]["step"]
    first, second = kill_points(seed=METHODS.index(name), count=2, high=last - 1)

    interrupt_at(monkeypatch, first)
    with pytest.raises(Crash):
        train_and_evaluate(config(name, checkpoint_every=CKPT_EVERY), str(run))
    saved = latest_checkpoint(run) or 0
    assert saved <= first
    if saved:  # a newer checkpoint the crash left half-written: never restored
        _fake_unfinished(str(run / "checkpoints"), saved + 1, saved)
        assert latest_checkpoint(run) == saved

    interrupt_at(monkeypatch, second, how="sigterm")
    with pytest.raises(SystemExit) as exit_info:
        train_and_evaluate(config(name, checkpoint_every=CKPT_EVERY), str(run))
    assert exit_info.value.code == 143
    assert latest_checkpoint(run) == second + 1  # saved at the first step after the signal

    monkeypatch.undo()
    train_and_evaluate(config(name, checkpoint_every=CKPT_EVERY), str(run))
    same_metrics(run, ref)


@pytest.mark.slow
def test_sigkilled_cli_replays_exactly(tmp_path):
    """The real thing (for advise, the method with the most state): SIGKILL the CLI at a
    seeded-random step, re-run, compare with the same run made in-process."""
    ref, run = tmp_path / "ref", tmp_path / "run"
    train_and_evaluate(config("advise"), str(ref))  # the same run: see tiny.py
    args = ("--config", f"{TINY}:advise", "--workdir", str(run))
    args += (f"--config.train.checkpoint_every={CKPT_EVERY}",)
    (step,) = kill_points(seed=10, count=1, low=10, high=tiny.STEPS - 10)
    cli_killed_at(step, *args)
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert "resumed from the checkpoint" in done.stderr
    same_metrics(run, ref)


def test_half_written_checkpoint_is_never_restored(tmp_path):
    """Unit level: orbax tmp dirs and step dirs without the commit marker are skipped."""
    d = str(tmp_path / "ckpt")
    ckpt = Checkpoints(d, max_to_keep=5)
    for step in (10, 20):
        ckpt.save(step, {"w": np.full(3, step, np.float32)}, {"step": step})
    ckpt.close()
    _fake_unfinished(d, 30, 20)
    os.makedirs(os.path.join(d, "40"))  # an empty step directory

    ckpt = Checkpoints(d, max_to_keep=5)
    assert ckpt.latest_step() == 20
    tree, meta = ckpt.restore(20, {"w": np.zeros(3, np.float32)})
    assert meta["step"] == 20 and tree["w"].tolist() == [20.0] * 3
    assert sorted(n for n in os.listdir(d) if n.isdigit()) == ["10", "20"]
    assert any(n.startswith("30.incomplete") for n in os.listdir(d))  # set aside, not deleted
    ckpt.save(30, {"w": np.full(3, 30, np.float32)}, {"step": 30})  # the step can be redone
    assert ckpt.latest_step() == 30
    ckpt.close()


@pytest.mark.slow
def test_changed_config_is_refused_before_anything_is_touched(tmp_path, monkeypatch):
    """A result-changing config is refused with the keys that differ; files stay as they were.

    A changed shape (model.width) is reported as a config change, not as an orbax shape
    error; with --allow_config_change a compatible change continues and an incompatible
    one is refused in one line. (Learning-rate change + allow: test_engine.py.)
    """
    run = tmp_path / "run"
    train_and_evaluate(config("spl", num_steps=30), str(run))
    files = {f: (run / f).read_text() for f in ("metrics.jsonl", "config.json")}

    wider = config("spl", num_steps=30)
    wider.model.width = 0.5
    with monkeypatch.context() as m:  # refused before the data and the model are set up
        m.setattr(loop_module, "build_experiment", None)
        with pytest.raises(ConfigError, match=r"different config \(model\.width: 0\.25 -> 0\.5\)"):
            train_and_evaluate(wider, str(run))
    with pytest.raises(ConfigError, match=r"cannot be restored into this run .*shape"):
        train_and_evaluate(wider, str(run), allow_config_change=True)
    assert {f: (run / f).read_text() for f in files} == files  # untouched

    longer = config("spl", num_steps=45)  # compatible: extend the run
    with pytest.raises(ConfigError, match="train.num_steps: 30 -> 45"):
        train_and_evaluate(longer, str(run))
    train_and_evaluate(longer, str(run), allow_config_change=True)
    assert [r["step"] for r in read_metrics(str(run))] == [15, 30, 45]


@pytest.mark.slow
def test_cli_refuses_a_changed_config_unless_allowed(tmp_path, monkeypatch, capsys):
    """The CLI entry point (in-process): one line and exit 2 for a changed config; the
    --allow_config_change flag is what lets the resume continue."""
    run = tmp_path / "run"
    train_and_evaluate(config("random", num_steps=15), str(run))
    args = (f"--config={TINY}:random", f"--workdir={run}", "--config.train.num_steps=30")
    code, err, _ = call_main(monkeypatch, capsys, *args)
    assert code == 2 and "Traceback" not in err
    (line,) = error_lines(err)
    assert "different config (train.num_steps: 15 -> 30)" in line
    assert "--allow_config_change" in line
    reset_flags()
    monkeypatch.setattr(sys, "argv", ["lgl_spl.main", *args, "--allow_config_change"])
    try:
        main_module.main()  # returns normally: no SystemExit
    finally:
        reset_flags()
    assert [r["step"] for r in read_metrics(str(run))] == [15, 30]
