"""examples/own_method.py: a method written outside the package, with the public API only,
runs through the program (and resumes exactly after SIGKILL), a sweep and its report, and
a loop of one's own."""

import os

import numpy as np
import pytest

import lgl_spl as L
from lgl_spl.configlib import override_method
from lgl_spl.report.runs import group_runs, load_runs
from lgl_spl.train import train_and_evaluate
from tests.helpers import REPO, load_sweep, read_rows
from tests.reliability import tiny
from tests.reliability.common import TINY, cli, cli_killed_at, same_metrics

PATH = "examples.own_method:LOSS_PROPORTIONAL"


def _config(**settings):
    c = tiny.get_config("random")
    return override_method(c, [("name", PATH), *((k, str(v)) for k, v in settings.items())])


def test_it_plans_loss_proportional_rounds_in_ones_own_loop():
    y = np.arange(400) % 4
    s = L.build_sampler(PATH, labels=y, batch_size=20, num_steps=200, seed=3)
    assert s.name == "loss_proportional" and s.needs(s.init(), 0) == frozenset()
    state = s.init()
    warm, state = s.plan(state, 0)
    assert np.array_equal(np.sort(warm.indices.ravel()), np.arange(400))  # a shuffled pass
    assert s.needs(state, 1) == {"losses"}
    losses = np.where(np.arange(400) < 40, 5.0, 0.0).astype(np.float32)  # 40 hard examples
    plan, state = s.plan(state, 1, losses=losses)
    drawn = plan.indices.ravel()
    hard = np.mean(drawn < 40)
    # p ∝ loss + 0.1: the 40 hard ones hold 40·5.1 / (40·5.1 + 360·0.1) = 85 % of the mass.
    assert 0.8 < hard < 0.9, hard
    # Importance weights 1 / (N p): the weighted share of the hard ones is their data share.
    w = plan.weights.ravel()
    assert abs(np.sum(w[drawn < 40]) / np.sum(w) - 0.1) < 0.03
    again, _ = s.plan(s.plan(s.init(), 0)[1], 1, losses=losses)  # a pure function of (seed, r)
    assert np.array_equal(again.indices, plan.indices)


def test_it_trains_through_the_program(tmp_path):
    last = train_and_evaluate(_config(power=0.5), str(tmp_path))
    rounds = read_rows(str(tmp_path), "rounds.jsonl")
    assert rounds[0]["selected_fraction"] == 1.0  # the warm-up round
    assert all(r["max_probability_ratio"] > 1.0 for r in rounds[1:])
    assert last["extra_forward_passes"] == 5 * 320  # five scoring passes, counted
    assert last["test_accuracy"] > 0.3  # chance is 0.1; 60 steps of a tiny LeNet


@pytest.mark.slow
def test_it_resumes_exactly_after_sigkill(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    train_and_evaluate(_config(), str(ref))
    args = ("--config", f"{TINY}:random", "--workdir", str(run), f"--config.method.name={PATH}")
    args += ("--config.train.checkpoint_every=9",)
    cli_killed_at(31, *args)
    done = cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from the checkpoint" in done.stderr
    assert "loss_proportional (examples.own_method:LOSS_PROPORTIONAL) on digits" in done.stderr
    same_metrics(run, ref)


@pytest.mark.slow
def test_a_sweep_runs_it_and_the_report_names_it(tmp_path):
    sweep = load_sweep()
    root = str(tmp_path / "sweep")
    args = ["--root", root, "--configs", f"{TINY}:random", "--seeds", "0", "1", "--jobs", "2"]
    cwd = os.getcwd()
    os.chdir(REPO)  # the import path is found from the working directory, as a user runs it
    try:
        assert sweep.main([*args, "--grid", f"method.name=random,{PATH}"]) == 0
    finally:
        os.chdir(cwd)
    groups = group_runs(load_runs([root]))
    assert sorted(g.label for g in groups) == ["loss_proportional", "random"]
    (own,) = [g for g in groups if g.label == "loss_proportional"]
    assert [r.seed for r in own.runs] == [0, 1]
    assert {r.config["method.path"] for r in own.runs} == {PATH}
