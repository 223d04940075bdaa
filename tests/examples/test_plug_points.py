"""examples/plug_points.py: the method API's plug points (step signals and short rounds, a
loss transform with state, a selector that weights) through the program, resumed exactly
after a crash, and from a loop of one's own."""

import jax.numpy as jnp
import numpy as np
import pytest

import lgl_spl as L
from lgl_spl.configlib import override_method
from lgl_spl.report.runs import load_runs
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.experiment import build_experiment
from lgl_spl.train.loop import load_checkpoint
from tests.helpers import load_sweep, read_metrics, read_rows
from tests.reliability import tiny
from tests.reliability.common import Crash, interrupt_at, same_metrics

PATH = "examples.plug_points"


def _config(attr: str, **settings):
    c = tiny.get_config("random")
    c.train.checkpoint_every = 7  # mid-round checkpoints: the partial round's records too
    return override_method(
        c, [("name", f"{PATH}:{attr}"), *((k, str(v)) for k, v in settings.items())]
    )


def _crash_and_resume(tmp_path, monkeypatch, attr: str, at: int):
    """The finished files of a run crashed after step ``at`` and re-run equal an
    uninterrupted run's; the reference's workdir."""
    ref, run = tmp_path / "ref", tmp_path / "run"
    train_and_evaluate(_config(attr), str(ref))
    interrupt_at(monkeypatch, at)
    with pytest.raises(Crash):
        train_and_evaluate(_config(attr), str(run))
    monkeypatch.undo()
    train_and_evaluate(_config(attr), str(run))
    same_metrics(run, ref)
    return ref


def test_dynamic_pruning_takes_short_rounds_from_the_steps_own_losses(tmp_path, monkeypatch):
    ref = _crash_and_resume(tmp_path, monkeypatch, "PRUNE_EASY", at=26)
    rounds = read_rows(str(ref), "rounds.jsonl")
    assert len(rounds) == tiny.STEPS // 10  # every pass over the data is kept: 6 rounds
    steps = [r["round_steps"] for r in rounds]
    assert steps[0] == 10 and all(s < 10 for s in steps[1:]), steps  # pruned rounds are short
    assert [r["first_step"] for r in rounds] == list(np.cumsum([0, *steps[:-1]]))
    rows = read_metrics(str(ref))
    assert rows[-1]["step"] == sum(steps) < tiny.STEPS  # fewer updates than a full run
    # The schedule follows the passes: the last step's rate is the full run's last rate.
    full = train_and_evaluate(tiny.get_config("random"), str(tmp_path / "random"))
    assert rows[-1]["lr"] == pytest.approx(full["lr"], abs=1e-7)
    assert rows[-1]["extra_forward_passes"] == 0  # the signals came from the steps themselves
    # It ended before num_steps, and is finished for the sweep and the report, which count
    # the updates it took.
    (run,) = load_runs([str(ref)])
    assert run.finished and run.updates == sum(steps) and run.num_steps == tiny.STEPS
    assert load_sweep().is_finished(str(ref))


def test_a_loss_transform_keeps_its_state_in_the_train_state(tmp_path, monkeypatch):
    ref = _crash_and_resume(tmp_path, monkeypatch, "TRUNCATED_LOSS", at=33)
    exp = build_experiment(_config("TRUNCATED_LOSS"))
    rs, step = load_checkpoint(exp, str(ref))
    assert step == tiny.STEPS
    state = rs.train.loss_state
    assert int(state["seen"]) == tiny.STEPS and 0.0 < float(state["mean"]) < 3.0
    # The transform itself: losses above cap × the running mean are capped at it.
    transform = exp.loss_transform
    losses = jnp.array([0.1, 1.0, 10.0])
    batch = L.LossBatch(jnp.zeros(3, jnp.int32), jnp.zeros((3, 10)), jnp.arange(3), jnp.ones(3))
    capped, new = transform.apply({"mean": jnp.float32(1.0), "seen": jnp.int32(5)}, losses, batch)
    mean = 0.9 * 1.0 + 0.1 * float(jnp.mean(losses))
    assert float(new["mean"]) == pytest.approx(mean)
    np.testing.assert_allclose(capped, [0.1, 1.0, 3.0 * mean], rtol=1e-6)


def test_a_selector_that_weights_trains_on_its_weights(tmp_path, monkeypatch):
    _crash_and_resume(tmp_path, monkeypatch, "WEIGHTED_HARD", at=17)
    # select_candidates multiplies the plan's weights by the selector's own.
    from examples.plug_points import _weighted_hard

    losses = jnp.array([0.5, 3.0, 1.0, 2.0])
    c = L.Candidates(jnp.arange(4), jnp.zeros(4, jnp.int32), jnp.array([1.0, 1.0, 0.0, 1.0]),
                     losses, jnp.zeros((4, 3)))  # fmt: skip
    positions, weights = L.select_candidates(_weighted_hard, c, 2)
    assert positions.tolist() == [1, 3]  # the two highest real losses
    np.testing.assert_allclose(weights, [3.0 / 2.5, 2.0 / 2.5], rtol=1e-6)


def test_step_signals_in_ones_own_loop():
    y = np.arange(40) % 4
    s = L.build_sampler(f"{PATH}:PRUNE_EASY", labels=y, batch_size=8, num_steps=40)
    state = s.init()
    plan, state = s.plan(state, 0)
    assert plan.indices.shape == (5, 8)
    losses = np.where(np.arange(40) < 20, 0.1, 2.0).astype(np.float32)  # 20 easy examples
    trained = L.Trained(np.arange(40), losses, np.ones(40, bool), np.ones(40, np.float32))
    plan, state = s.plan(state, 1, trained=trained)
    assert plan.indices.shape == (4, 8)  # 10 of the 20 easy ones left out: 30 in 4 steps
    kept = set(plan.indices[plan.weights > 0].tolist())
    assert len(kept) == 30 and set(range(20, 40)) <= kept
    easy_weights = plan.weights[(plan.indices < 20) & (plan.weights > 0)]
    assert np.allclose(easy_weights, 2.0)  # 1 / (1 − 0.5)
