"""The superloss method: its loss transform's τ (a running mean, or log C) and its losses."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import lgl_spl as L
from lgl_spl.samplers import registry
from lgl_spl.samplers.functional import method_settings
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.experiment import build_experiment
from lgl_spl.train.loop import load_checkpoint
from tests.reliability import tiny


def _transform(**settings):
    ctx = L.SamplerContext(num_examples=8, num_classes=10, batch_size=4, seed=0, num_steps=8,
                           labels=np.arange(8) % 10)  # fmt: skip
    return registry.METHODS["superloss"].loss_transform(
        method_settings("superloss", **settings), ctx
    )


BATCH = L.LossBatch(jnp.zeros(4, jnp.int32), jnp.zeros((4, 10)), jnp.arange(4),
                    jnp.array([1.0, 1.0, 1.0, 0.0]))  # fmt: skip
LOSSES = jnp.array([0.5, 1.0, 4.0, 100.0])  # the last is padding (weight 0)


def test_tau_is_a_running_mean_of_the_real_losses_from_log_c():
    t = _transform(tau_decay=0.9)
    state = t.init(8, 10)
    assert float(state["tau"]) == pytest.approx(math.log(10))
    out, state = t.apply(state, LOSSES, BATCH)
    tau = 0.9 * math.log(10) + 0.1 * (0.5 + 1.0 + 4.0) / 3  # padding left out
    assert float(state["tau"]) == pytest.approx(tau, rel=1e-6)
    np.testing.assert_allclose(out, L.superloss(LOSSES, tau, 1.0), rtol=1e-5)


def test_tau_log_c_stays_fixed():
    t = _transform(tau="log_classes", lam=0.5)
    state = t.init(8, 10)
    for _ in range(3):
        out, state = t.apply(state, LOSSES, BATCH)
    assert float(state["tau"]) == pytest.approx(math.log(10))
    np.testing.assert_allclose(out, L.superloss(LOSSES, math.log(10), 0.5), rtol=1e-5)


def test_it_trains_with_tau_in_the_checkpoint(tmp_path):
    c = tiny.get_config("superloss")
    last = train_and_evaluate(c, str(tmp_path))
    assert last["test_accuracy"] > 0.3  # chance is 0.1
    rs, step = load_checkpoint(build_experiment(c), str(tmp_path))
    tau = float(rs.train.loss_state["tau"])
    assert step == tiny.STEPS and 0.0 < tau < math.log(10)  # the loss fell below a guess's
