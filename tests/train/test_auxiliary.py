"""Auxiliary learners plug into the loop through their protocol alone."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lgl_spl import configlib
from lgl_spl.samplers import registry, uniform
from lgl_spl.train import auxiliary, train_and_evaluate
from tests.helpers import read_metrics, read_rows, tiny_digits


class Counter:
    """A stand-in learner: counts the rounds it advanced, 7 forward passes each."""

    name = "counter"
    outputs = ()

    def __init__(self, config, parts):
        self.labels = parts["context"].labels

    def init(self):
        return {"rounds": np.asarray(0, np.int64)}

    def advance(self, state, round_index):
        rounds = int(state["rounds"]) + 1
        return {"rounds": np.asarray(rounds, np.int64)}, {"counter_rounds": rounds}

    def signals(self, state, signals, labels):
        np.testing.assert_array_equal(labels, self.labels)
        return signals

    def forward_passes(self, state):
        return 7 * int(state["rounds"])

    def evaluation(self, state):
        return {"counter_at_eval": int(state["rounds"])}

    def snapshot(self, state):
        return None


@pytest.fixture
def counted(monkeypatch):
    monkeypatch.setitem(auxiliary.BUILDERS, "counter", Counter)
    method = registry.Method("counted", uniform.RandomSampler, {}, auxiliary=("counter",))
    monkeypatch.setitem(registry.METHODS, "counted", method)
    return configlib.set_method(tiny_digits(checkpoint_every=10), "counted")


@pytest.fixture
def counted_by_function(monkeypatch):
    """The same learner given as the function that builds it (no name registered)."""
    method = registry.Method("counted", uniform.RandomSampler, {}, auxiliary=(Counter,))
    monkeypatch.setitem(registry.METHODS, "counted", method)
    return configlib.set_method(tiny_digits(checkpoint_every=10), "counted")


@pytest.mark.parametrize("how", ["counted", "counted_by_function"])
def test_a_new_learner_is_driven_checkpointed_and_counted_with_no_change_to_the_loop(
    tmp_path, request, how
):
    counted = request.getfixturevalue(how)
    train_and_evaluate(counted, str(tmp_path))
    rows = read_metrics(str(tmp_path))
    # 60 steps of 45-step rounds: rounds 0 and 1, each advanced once before it is planned.
    assert [r["counter_at_eval"] for r in rows] == [1, 1, 2]
    assert [r["extra_forward_passes"] for r in rows] == [7, 7, 14]
    assert [r["counter_rounds"] for r in read_rows(str(tmp_path), "rounds.jsonl")] == [1, 2]
    # The learner's state is its own checkpoint item: a resumed run carries on from it.
    shutil.rmtree(tmp_path / "checkpoints" / "60")
    train_and_evaluate(counted, str(tmp_path))
    assert read_metrics(str(tmp_path)) == rows
