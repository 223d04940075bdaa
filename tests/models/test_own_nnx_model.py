"""A user's model: ``width`` of its declared type, Flax NNX classes (through the bridge), and
errors raised by the user's own code (``UserCodeError``, naming the model and its line)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lgl_spl import models
from lgl_spl.errors import ConfigError, UserCodeError
from lgl_spl.train import validate
from lgl_spl.train.state import create_train_state
from tests.helpers import read_rows, tiny_digits

OWN = "tests.models.own_models"
OWN_FILE = "tests/models/own_models.py"
SAMPLE = jnp.zeros((2, 8, 8, 1))
X = jax.random.uniform(jax.random.key(1), (16, 8, 8, 1))


def _init(name, **kwargs):
    model = models.get_model(f"{OWN}:{name}", num_classes=10, **kwargs)
    state = create_train_state(model, optax.sgd(0.1), jax.random.key(0), SAMPLE)  # jitted
    return model, state


def _line_of(text: str) -> int:
    """The line of ``own_models.py`` that holds ``text``."""
    with open(OWN_FILE) as f:
        return next(i for i, line in enumerate(f, 1) if text in line)


# --- width: the declared type --------------------------------------------------------------


@pytest.mark.parametrize("name", ["WholeWidth", "NNXWholeWidth"])
def test_a_width_declared_int_gets_an_int(name):
    _, state = _init(name, width=2.0)  # the model asserts an int (jnp shapes need one)
    shapes = {leaf.shape for leaf in jax.tree.leaves(state.params)}
    assert (64, 32) in shapes and (32, 10) in shapes  # 16 × 2 hidden units


@pytest.mark.parametrize("name", ["WholeWidth", "NNXWholeWidth"])
def test_a_fractional_width_for_an_int_field_is_one_line_naming_model_and_setting(name):
    with pytest.raises(ConfigError) as e:
        models.get_model(f"{OWN}:{name}", num_classes=10, width=0.5)
    message = str(e.value)
    assert name in message and "model.width" in message and "width: int" in message
    assert "\n" not in message


def test_a_width_declared_float_gets_a_float():
    model = models.get_model(f"{OWN}:TinyPair", num_classes=4, width=2)
    assert isinstance(model.module.width, float)


# --- NNX: accepted through the bridge --------------------------------------------------------


def test_an_nnx_model_keeps_params_and_batch_stats_in_their_collections():
    model, state = _init("NNXNet")
    assert set(state.params["module"]) == {"hidden", "norm", "head"}
    assert set(state.batch_stats["module"]["norm"]) == {"mean", "var"}
    assert models.classifier_path(state.params, 10) == ("module", "head")  # found by shape
    logits, features = model.apply(
        {"params": state.params, "batch_stats": state.batch_stats}, X, train=False
    )
    assert logits.shape == (16, 10) and features.shape == (16, 32)
    assert logits.dtype == jnp.float32


@pytest.mark.parametrize("name", ["NNXNet", "NNXTrain"])
def test_nnx_batchnorm_learns_in_training_and_eval_is_deterministic(name):
    model, state = _init(name)
    variables = {"params": state.params, "batch_stats": state.batch_stats}

    def train(key):
        (logits, _), updates = jax.jit(
            lambda v: model.apply(v, X, train=True, rngs={"dropout": key}, mutable=["batch_stats"])
        )(variables)
        return logits, updates["batch_stats"]

    logits_a, stats = train(jax.random.key(1))
    logits_b, _ = train(jax.random.key(2))
    logits_a2, _ = train(jax.random.key(1))
    old = state.batch_stats["module"]["norm"]["mean"]
    assert not np.allclose(stats["module"]["norm"]["mean"], old)  # the running mean moved
    assert not np.allclose(logits_a, logits_b)  # dropout draws from the 'dropout' stream
    np.testing.assert_array_equal(logits_a, logits_a2)  # … and from nothing else

    evaluate = jax.jit(lambda v, x: model.apply(v, x, train=False)[0])
    full = evaluate(variables, X)
    np.testing.assert_array_equal(full, evaluate(variables, X))
    # Eval mode: BatchNorm uses its running averages, not the batch's; no dropout.
    np.testing.assert_allclose(evaluate(variables, X[:4]), full[:4], rtol=1e-5, atol=1e-6)
    trained = {"params": state.params, "batch_stats": stats}
    assert not np.allclose(evaluate(trained, X), full)  # eval reads the batch_stats


def test_an_nnx_model_gets_its_width_and_dtype():
    model = models.get_model(f"{OWN}:NNXTrain", num_classes=3, width=0.5, compute_dtype="bfloat16")
    params, stats = models.init_variables(model, jax.random.key(0), SAMPLE)
    assert params["module"]["hidden"]["kernel"].shape == (64, 16)
    variables = {"params": params, "batch_stats": stats}
    logits, features = model.apply(variables, SAMPLE, train=False)
    assert logits.dtype == jnp.float32 and features.dtype == jnp.float32


@pytest.mark.parametrize(
    "name,message",
    [
        ("NNXNoClasses", "its __init__ has no num_classes parameter"),
        ("NNXTwoInputs", "__call__ must take (x) or (x, train)"),
    ],
)
def test_a_bad_nnx_class_is_one_line_before_any_data(name, message):
    config = tiny_digits()
    config.model.name = f"{OWN}:{name}"
    with pytest.raises(ConfigError) as e:
        validate.validate_config(config)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_nnx_settings_the_model_cannot_take_are_refused():
    with pytest.raises(ConfigError, match="no width __init__ parameter"):
        models.get_model(f"{OWN}:NNXNet", num_classes=3, width=0.5)
    with pytest.raises(ConfigError, match="no dtype __init__ parameter"):
        models.get_model(f"{OWN}:NNXNet", num_classes=3, compute_dtype="bfloat16")
    with pytest.raises(ConfigError, match="bad model.kwargs"):
        models.get_model(f"{OWN}:NNXNet", num_classes=3, depth=4)


def test_an_nnx_output_of_the_wrong_form_is_one_line_at_initialisation():
    model = models.get_model(f"{OWN}:NNXThreeOutputs", num_classes=10)
    with pytest.raises(ConfigError) as e:
        models.init_variables(model, jax.random.key(0), SAMPLE)
    assert "must return logits [batch, 10] or (logits, features); got a tuple of 3" in str(e.value)


# --- errors in the user's code ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name,error,text",
    [
        ("RaisesInSetup", "RuntimeError", "no layers today"),
        ("NNXRaisesInInit", "KeyError", "no such layer"),
    ],
)
def test_a_model_that_fails_to_build_raises_user_code_error_at_init(name, error, text):
    with pytest.raises(UserCodeError) as e:
        _init(name)  # create_train_state: inside jax.jit
    message = str(e.value)
    assert f"model '{OWN}:{name}' raised {error}" in message
    assert text in message and f"{OWN_FILE}:{_line_of(text)}" in message
    assert "\n" not in message and type(e.value.error).__name__ == error


@pytest.mark.parametrize(
    "name,text", [("RaisesInCall", "the model is unhappy"), ("NNXRaisesInCall", "NNX model is")]
)
def test_a_model_that_fails_in_its_call_raises_user_code_error_through_jit(name, text):
    model, state = _init(name)  # eval mode at initialisation: fine
    step = jax.jit(
        lambda p, s, key: model.apply(
            {"params": p, "batch_stats": s}, X, train=True, rngs={"dropout": key},
            mutable=["batch_stats"],
        )
    )  # fmt: skip
    with pytest.raises(UserCodeError) as e:
        step(state.params, state.batch_stats, jax.random.key(0))
    message = str(e.value)
    assert f"model '{OWN}:{name}' raised ValueError" in message and text in message
    assert f"{OWN_FILE}:{_line_of(text)}" in message and "\n" not in message
    assert isinstance(e.value.error, ValueError)


def test_a_run_whose_model_fails_stops_with_user_code_error(tmp_path):
    from lgl_spl.train import train_and_evaluate

    config = tiny_digits()
    config.model.name = f"{OWN}:NNXRaisesInCall"
    config.model.width = 1.0
    with pytest.raises(UserCodeError, match=r"raised ValueError: the NNX model is unhappy at"):
        train_and_evaluate(config, str(tmp_path))


# --- NNX through the program: trains, LGL's classifier rows, resumes exactly --------------------


def _config(name, method, **train):
    from lgl_spl import configlib

    config = tiny_digits(num_steps=40, eval_every=20, **train)
    config.data.train_limit = 320
    config.model.name = f"{OWN}:{name}"
    config.model.width = 1.0
    settings = {"lgl": {"num_stages": 2, "order": "dissimilar"}, "spld": {"num_clusters": 2}}
    configlib.set_method(config, method, **settings[method])
    return config


@pytest.mark.parametrize("name,method", [("NNXNet", "spld"), ("NNXTrain", "lgl")])
def test_a_run_trains_an_nnx_model(tmp_path, name, method):
    from lgl_spl.train import train_and_evaluate

    last = train_and_evaluate(_config(name, method), str(tmp_path))
    assert last["test_accuracy"] > 0.2  # chance is 0.1
    rounds = read_rows(str(tmp_path), "rounds.jsonl")
    if method == "lgl":  # the second stage's rows re-initialised in the bridged params
        assert rounds[-1]["stage"] == 1 and len(rounds[-1]["classes"]) == 10
    else:  # SPLD's groups: k-means of the model's features
        assert rounds[-1]["clusters_represented"] > 10


def test_an_interrupted_nnx_run_resumes_exactly(tmp_path, monkeypatch):
    from lgl_spl.train import train_and_evaluate
    from tests.reliability.common import Crash, interrupt_at, latest_checkpoint, same_metrics

    ref, run = tmp_path / "ref", tmp_path / "run"
    train_and_evaluate(_config("NNXNet", "spld"), str(ref))
    interrupt_at(monkeypatch, 27)
    with pytest.raises(Crash):
        train_and_evaluate(_config("NNXNet", "spld", checkpoint_every=9), str(run))
    assert 0 < latest_checkpoint(run) <= 27 and len(read_rows(str(run), "metrics.jsonl")) < len(
        read_rows(str(ref), "metrics.jsonl")
    )
    monkeypatch.undo()
    train_and_evaluate(_config("NNXNet", "spld", checkpoint_every=9), str(run))
    same_metrics(run, ref)
