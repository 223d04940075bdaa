"""The sweep launcher: its plan, its job-array slicing, skipping finished runs, resuming."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import REPO, load_sweep, read_metrics

sweep = load_sweep()

DIGITS = os.path.join(REPO, "configs", "digits_random.py")
TOY = os.path.join(REPO, "configs", "toy_random.py")
TINY = (
    "model.width=0.5",
    "train.batch_size=32",
    "train.num_steps=30",
    "train.eval_every=15",
    "train.eval_batch_size=200",
    "train.lr_decay_steps=30",
    "train.log_every=1000",
)


def test_plan_is_seed_major_with_grid_points_and_overrides(tmp_path):
    runs = sweep.plan(
        str(tmp_path), [DIGITS, TOY], [0, 1], ["train.num_steps=9"], ["model.width=0.5,1"]
    )
    assert len(runs) == 2 * 2 * 2
    assert [r.seed for r in runs] == [0] * 4 + [1] * 4
    assert runs[0].workdir == os.path.join(tmp_path, "digits_random", "model.width-0.5", "seed_0")
    assert runs[1].overrides == ("train.num_steps=9", "model.width=1")
    assert len({r.workdir for r in runs}) == len(runs)
    cmd = runs[0].command()
    assert cmd[1:4] == ["-m", "lgl_spl.main", "--config"]
    assert cmd[-3:] == ["--config.train.num_steps=9", "--config.model.width=0.5", "--config.seed=0"]


def test_plan_rejects_a_missing_config(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        sweep.plan(str(tmp_path), ["configs/nope.py"], [0])


def test_is_finished_reads_the_last_row_against_num_steps(tmp_path):
    assert not sweep.is_finished(str(tmp_path))  # nothing there
    (tmp_path / "config.json").write_text(json.dumps({"train.num_steps": 20}))
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 10}) + "\n")
    assert not sweep.is_finished(str(tmp_path))
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 20}) + "\n")
    assert sweep.is_finished(str(tmp_path))


def test_task_id_outside_the_array_is_refused(tmp_path, capsys):
    args = ["--root", str(tmp_path), "--configs", DIGITS, "--seeds", "0", "1"]
    assert sweep.main([*args, "--count"]) == 0
    assert capsys.readouterr().out.strip() == "2"
    with pytest.raises(SystemExit, match="outside 0..1"):
        sweep.main([*args, "--task-id", "2"])


def test_a_config_argument_names_the_run(tmp_path):
    control = os.path.join(REPO, "configs", "cpu", "control.py")
    (run,) = sweep.plan(str(tmp_path), [f"{control}:cifar10,spl_cap60,sym40"], [2])
    assert run.workdir == os.path.join(tmp_path, "cifar10-spl_cap60-sym40", "seed_2")
    assert run.command()[4] == f"{control}:cifar10,spl_cap60,sym40"
    with pytest.raises(SystemExit, match="does not exist"):
        sweep.plan(str(tmp_path), ["configs/cpu/none.py:cifar10,spl"], [0])


@pytest.mark.slow
def test_sweep_runs_then_skips_finished_runs(tmp_path, capsys):
    args = ["--root", str(tmp_path), "--configs", DIGITS, "--seeds", "3", "4", "--jobs", "2"]
    for kv in TINY:
        args += ["--set", kv]
    assert sweep.main(args) == 0
    for seed in (3, 4):
        with open(tmp_path / "digits_random" / f"seed_{seed}" / "config.json") as f:
            assert json.load(f)["seed"] == seed
    workdir = tmp_path / "digits_random" / "seed_3"
    rows = read_metrics(str(workdir))
    assert [r["step"] for r in rows] == [15, 30]
    capsys.readouterr()
    assert sweep.main(args) == 0  # again: nothing left to do
    assert "finished, skipped" in capsys.readouterr().out
    assert read_metrics(str(workdir)) == rows
