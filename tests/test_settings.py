"""Every config key is declared once (lgl_spl.settings); code reads no second default."""

import ast
import pathlib

import ml_collections
import pytest

from lgl_spl import configlib, data, models, settings
from lgl_spl.errors import ConfigError
from lgl_spl.train import run_length
from lgl_spl.train.state import make_optimizer
from lgl_spl.train.validate import validate_config

PACKAGE = pathlib.Path(__file__).parents[1] / "lgl_spl"


def test_base_config_is_the_schema_at_its_defaults():
    c = configlib.base_config()
    assert set(c) == {*settings.TOP, "method", *settings.BLOCKS}
    for name, fields in settings.BLOCKS.items():
        assert c[name].to_dict() == settings.defaults(fields), name
    assert c.seed == settings.TOP["seed"].default


def test_choices_match_the_modules_that_implement_them():
    from lgl_spl.models.registry import COMPUTE_DTYPES

    assert set(settings.TRAIN["compute_dtype"].choices) == set(COMPUTE_DTYPES)
    assert set(settings.DATA["label_noise_type"].choices) == set(data.NOISE_KINDS)
    assert set(settings.DATA["augment"].choices) == {*data.AUGMENT_CHOICES, True, False}


def test_a_partial_block_is_completed_from_the_declared_defaults():
    # Weight decay once had a fallback of 0.0 here and 5e-4 in the config: now one value.
    partial = ml_collections.ConfigDict({"optimizer": "sgd", "learning_rate": 0.1})
    full = configlib.base_config().train
    assert settings.complete(partial, settings.TRAIN).weight_decay == full.weight_decay == 5e-4
    params = {"w": __import__("jax").numpy.ones(3)}
    a, b = make_optimizer(partial), make_optimizer(full)
    grads = {"w": __import__("jax").numpy.full(3, 0.5)}
    ua, _ = a.update(grads, a.init(params), params)
    ub, _ = b.update(grads, b.init(params), params)
    assert float(ua["w"][0]) == float(ub["w"][0])


def test_no_config_key_is_read_with_a_default_of_its_own():
    """``cfg.get("key", default)`` on a config block would be a second default."""
    keys = {k for fields in (settings.TOP, *settings.BLOCKS.values()) for k in fields}
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "report":  # reads finished runs' config.json, never builds one
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and len(node.args) == 2
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in keys
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.args[0].value}")
    assert not found, found


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("train.log_every", 0, "train.log_every must be ≥ 1"),
        ("train.nesterov", "yes", "train.nesterov must be True or False"),
        ("data.chunk", 0, "data.chunk must be ≥ 1"),
        ("train.lr_milestones", ("a",), "train.lr_milestones must be a sequence of numbers"),
    ],
)
def test_every_key_is_checked_against_its_declaration(key, value, message):
    c = configlib.digits_student()
    block, name = key.split(".")
    with c.unlocked():  # a fresh block: its types are not those of the defaults
        c[block] = ml_collections.ConfigDict({**c[block].to_dict(), name: value})
    with pytest.raises(ConfigError, match=message):
        validate_config(c)


def test_a_key_outside_the_schema_is_refused_with_a_suggestion():
    c = configlib.digits_student()
    with c.unlocked():
        c.train.learning_rat = 0.1
    with pytest.raises(ConfigError, match="train.learning_rat is not a setting of the train"):
        validate_config(c)


def test_methods_derive_their_settings_beside_their_samplers():
    c = configlib.set_method(configlib.lgl_student("cifar10"), "lgl", budget="paper")
    r = run_length.resolve(c, num_train=50_000, num_classes=10)
    baseline = 100 * 391
    assert r.method.schedule_steps == baseline
    assert r.train.num_steps == round(baseline * (4 + 8 + 10) / 10)  # stages of 4, 4, 2
    a = configlib.set_method(configlib.digits_student(), "advise", embed_steps=-1,
                             student_steps_per_embed_step=3)  # fmt: skip
    assert run_length.resolve(a, num_train=1438, num_classes=10).method.embed_steps == 500


def test_model_names_are_the_registry_s():
    assert configlib.base_config().model.name in models.MODELS
