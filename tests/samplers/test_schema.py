"""Method settings are declared once; samplers stay below the training side."""

import ast
import pathlib

import ml_collections
import pytest

from lgl_spl import configlib, models
from lgl_spl.errors import ConfigError
from lgl_spl.samplers import METHODS, advise, validate_method

SAMPLERS_DIR = pathlib.Path(__file__).parents[2] / "lgl_spl" / "samplers"


def test_samplers_import_nothing_from_models_or_train():
    for path in SAMPLERS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not name.startswith(("lgl_spl.models", "lgl_spl.train")), (path, name)


def test_advise_embedding_models_match_the_registry():
    assert set(advise.EMBEDDING_MODELS) == set(models.EMBEDDING_MODELS)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_set_method_gives_every_setting_its_default(name):
    c = configlib.set_method(configlib.digits_student(), name)
    assert dict(c.method) == {"name": name, **METHODS[name].defaults()}
    validate_method(c.method)
    with pytest.raises(AttributeError):  # locked: a misspelt setting fails at once
        c.method.not_a_setting = 1


def test_a_setting_of_another_method_is_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match="method.num_cluster is not a setting.*'num_clusters'"):
        configlib.set_method(configlib.digits_student(), "spld", num_cluster=4)
    block = ml_collections.ConfigDict({"name": "spl", "q0": 0.5, "num_clusters": 3})
    with pytest.raises(ConfigError, match="method.num_clusters is not a setting"):
        validate_method(block)
