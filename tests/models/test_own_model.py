"""``model.name = "package.module:Name"``: a user's Flax module, checked before training."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lgl_spl import models
from lgl_spl.errors import ConfigError
from lgl_spl.train import validate
from tests.helpers import read_rows, tiny_digits

OWN = "tests.models.own_models"
SAMPLE = jnp.zeros((2, 8, 8, 1))


def test_a_logits_only_model_uses_its_logits_as_features():
    model = models.get_model(f"{OWN}:Tiny", num_classes=10)
    params, stats = models.init_variables(model, jax.random.key(0), SAMPLE)
    logits, features = model.apply({"params": params}, jnp.ones((3, 8, 8, 1)), train=True)
    assert logits.shape == (3, 10) and logits.dtype == jnp.float32
    np.testing.assert_array_equal(features, logits)
    assert stats == {}
    assert models.classifier_path(params, 10) == ("module", "Dense_1")  # found by shape


def test_a_pair_model_gets_its_width_and_keeps_its_features():
    model = models.get_model(f"{OWN}:TinyPair", num_classes=4, width=0.5)
    params, stats = models.init_variables(model, jax.random.key(0), SAMPLE)
    assert params["module"]["Conv_0"]["kernel"].shape[-1] == 4  # 8 × 0.5
    logits, features = model.apply({"params": params, "batch_stats": stats}, SAMPLE, train=False)
    assert logits.shape == (2, 4) and features.shape == (2, 4) and "BatchNorm_0" in stats["module"]


@pytest.mark.parametrize(
    "name,message",
    [
        ("no_such_package_xyz.models:Net", "cannot import 'no_such_package_xyz.models'"),
        (f"{OWN}:Missing", "has no attribute 'Missing'"),
        (f"{OWN}:NOT_A_MODULE", "is not a Flax module class (Linen nn.Module or nnx.Module)"),
        (f"{OWN}:NoClasses", "no num_classes attribute"),
        (f"{OWN}:NoTrain", "__call__ must take (x, train)"),
        (f"{OWN}:", "package.module:Name"),
        (  # the user's module raises while it is imported: the line of their file is named
            "tests.models.own_models_broken:Net",
            "(NameError: name 'undefined_helper' is not defined at "
            + os.path.join("tests", "models", "own_models_broken.py:5)"),
        ),
    ],
)
def test_a_bad_import_path_is_one_line_before_any_data(name, message):
    config = tiny_digits()
    config.model.name = name
    with pytest.raises(ConfigError) as e:
        validate.validate_config(config)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_settings_the_model_cannot_take_are_refused():
    with pytest.raises(ConfigError, match="no width attribute"):
        models.get_model(f"{OWN}:Tiny", num_classes=3, width=0.5)
    with pytest.raises(ConfigError, match="no dtype attribute"):
        models.get_model(f"{OWN}:Tiny", num_classes=3, compute_dtype="bfloat16")
    with pytest.raises(ConfigError, match="bad model.kwargs"):
        models.get_model(f"{OWN}:Tiny", num_classes=3, depth=4)


@pytest.mark.parametrize(
    "name,got", [("ThreeOutputs", "a tuple of 3"), ("WrongWidth", "logits of shape (2, 4)")]
)
def test_an_output_of_the_wrong_form_is_one_line_at_initialisation(name, got):
    model = models.get_model(f"{OWN}:{name}", num_classes=3)
    with pytest.raises(ConfigError) as e:
        models.init_variables(model, jax.random.key(0), SAMPLE)
    assert "must return logits [batch, 3] or (logits, features)" in str(e.value)
    assert got in str(e.value)


@pytest.mark.parametrize(
    "method,settings",
    [("lgl", {"num_stages": 2, "order": "dissimilar"}), ("spld", {"num_clusters": 2})],
)
def test_a_run_trains_a_model_of_ones_own(tmp_path, method, settings):
    from lgl_spl import configlib
    from lgl_spl.train import train_and_evaluate

    config = tiny_digits(num_steps=40, eval_every=40)
    config.data.train_limit = 320
    config.model.name = f"{OWN}:Tiny"
    config.model.width = 1.0
    configlib.set_method(config, method, **settings)
    last = train_and_evaluate(config, str(tmp_path))
    assert last["test_accuracy"] > 0.2  # chance is 0.1
    rounds = read_rows(str(tmp_path), "rounds.jsonl")
    if method == "lgl":  # the second stage's classes were chosen by entropy, rows re-initialised
        assert rounds[-1]["stage"] == 1 and len(rounds[-1]["classes"]) == 10
        assert any(r.get("class_entropies") for r in rounds)
    else:  # SPLD's groups: k-means of the logits (the features of a logits-only model)
        assert rounds[-1]["clusters_represented"] > 10


def test_a_wrong_output_stops_the_run_before_its_first_step(tmp_path):
    from lgl_spl.train import train_and_evaluate

    config = tiny_digits()
    config.model.name = f"{OWN}:WrongWidth"
    config.model.width = 1.0
    with pytest.raises(ConfigError, match=r"got logits of shape \(1, 11\)"):
        train_and_evaluate(config, str(tmp_path))
    assert not (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "checkpoints").exists()
