"""Evaluation and scoring passes: one compiled program per batch shape, one wait per pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lgl_spl import data as data_lib
from lgl_spl.train import evaluator as evaluator_lib
from lgl_spl.train.experiment import build_experiment
from lgl_spl.train.steps import model_variables
from tests.helpers import tiny_digits


@pytest.fixture(scope="module")
def exp():
    # 359 test examples in 4 batches of 90 and 1,438 training examples in 15 of 96:
    # both splits end on a padded batch.
    return build_experiment(tiny_digits(eval_batch_size=100))


@pytest.fixture(scope="module")
def state(exp):
    return exp.initial_state().train


def _reference(exp, state, x, y):
    """Every example in one plain forward pass: (logits, per-example losses)."""
    images = data_lib.augment(jax.random.key(0), jnp.asarray(x), exp.spec, train=False)
    variables = model_variables(state.params, state.batch_stats)
    logits, _ = exp.model.apply(variables, images, train=False)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(y))
    return np.asarray(logits), np.asarray(losses)


def test_evaluation_matches_one_plain_forward(exp, state):
    mask = np.ones(exp.num_classes, bool)
    acc, loss = exp.evaluator.evaluate(state, exp.test_feed, mask)
    logits, losses = _reference(exp, state, exp.dataset.x_test, exp.dataset.y_test)
    assert acc == np.mean(np.argmax(logits, -1) == exp.dataset.y_test)
    np.testing.assert_allclose(loss, losses.mean(), rtol=1e-5)


def test_one_program_per_batch_shape_and_one_transfer_per_pass(exp, state, monkeypatch):
    fetches = []
    real = evaluator_lib._fetch
    monkeypatch.setattr(evaluator_lib, "_fetch", lambda t: fetches.append(1) or real(t))
    mask = np.ones(exp.num_classes, bool)
    before = exp.steps.evaluate._cache_size()
    for feed in (exp.test_feed, exp.train_feed, exp.test_feed, exp.train_feed):
        exp.evaluator.evaluate(state, feed, mask)
    # Two splits, two batch shapes: the padded last batches compile nothing new.
    assert exp.steps.evaluate._cache_size() - before <= 2
    assert exp.steps.evaluate._cache_size() == 2
    assert len(fetches) == 4  # one transfer per pass, not one per batch


def test_scoring_pass_matches_a_plain_forward_and_compiles_once(exp, state):
    mask = np.ones(exp.num_classes, bool)
    labels = exp.dataset.y_train
    first = exp.evaluator.score(state, exp.train_feed, mask, labels, ("losses",))
    second = exp.evaluator.score(state, exp.train_feed, mask, labels, ("losses",))
    _, losses = _reference(exp, state, exp.dataset.x_train, labels)
    assert first.losses.shape == (len(labels),)
    np.testing.assert_allclose(first.losses, losses, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(first.losses, second.losses)
    jitted = _scorer(exp, ("losses",))
    assert jitted._cache_size() == 1


def test_scoring_fetches_behind_the_dispatch(exp, state, monkeypatch):
    """Batch i's outputs are read only after batch i + SCORE_AHEAD has been dispatched."""
    order = []
    real_score = exp.steps.score

    def score(*args):
        order.append("dispatch")
        return real_score(*args)

    real_to_host = evaluator_lib.parallel.to_host

    def to_host(x):
        order.append("fetch")
        return real_to_host(x)

    monkeypatch.setattr(exp.evaluator, "steps", exp.steps._replace(score=score))
    monkeypatch.setattr(evaluator_lib.parallel, "to_host", to_host)
    mask = np.ones(exp.num_classes, bool)
    exp.evaluator.score(state, exp.train_feed, mask, exp.dataset.y_train, ("losses",))
    ahead = evaluator_lib.SCORE_AHEAD
    assert order[: ahead + 1] == ["dispatch"] * (ahead + 1)
    assert order.count("dispatch") == order.count("fetch") == 15


def _scorer(exp, want):
    """The jitted scoring step ``Steps.score`` dispatches to for ``want``."""
    for cell in exp.steps.score.__closure__ or ():
        fn = cell.cell_contents
        if callable(fn) and hasattr(fn, "cache_info"):
            return fn(want)
    raise AssertionError("no cached scorer found")
