"""Methods as plug-ins: a method written outside the package (by import path or registered),
held to the sampler protocol, and any config switched to any method."""

from __future__ import annotations

import inspect
import json
import os
import sys

import numpy as np
import pytest

import lgl_spl as L
from lgl_spl.configlib import override_method
from lgl_spl.errors import ConfigError, UserCodeError
from lgl_spl.samplers import registry
from lgl_spl.train import train_and_evaluate
from tests.helpers import load_config, read_rows
from tests.reliability import tiny
from tests.reliability.common import call_main, error_lines
from tests.samplers import own_methods

OWN = "tests.samplers.own_methods"
LABELS = np.arange(40) % 4


def test_the_public_api_is_importable_from_the_package():
    for name in (
        "Method", "register_method", "Sampler", "SamplerContext", "RoundPlan", "Signals",
        "StepSelector", "Candidates", "fill_round", "round_rng", "integer", "number",
        "choice", "flag", "text", "select_candidates", "score_candidates", "highest_loss",
    ):  # fmt: skip
        assert hasattr(L, name), name


def test_a_method_by_import_path_runs_in_ones_own_loop():
    s = L.build_sampler(f"{OWN}:EVEN_FIRST", labels=LABELS, batch_size=8, num_steps=20)
    assert s.name == "even_first" and s.steps_per_round == 5 and s.step_selector is None
    state = s.init()
    plan, state = s.plan(state, 0)
    assert plan.keep is None and set(np.unique(plan.indices)) <= set(range(0, 40, 2))
    plan, state = s.plan(state, 2)
    assert set(np.unique(plan.indices)) == set(range(40)) and int(state["rounds_planned"]) == 2


def test_a_registered_method_is_known_by_its_name(monkeypatch):
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))  # undone after the test
    method = L.Method("evens", own_methods.EvenFirst, own_methods.EVEN_FIRST.fields)
    assert L.register_method(method) is method
    s = L.build_sampler("evens", labels=LABELS, batch_size=8, num_steps=20, even_rounds=1)
    assert s.settings.even_rounds == 1
    with pytest.raises(ConfigError, match="one of the package's own"):
        L.register_method(L.Method("spl", own_methods.EvenFirst))
    with pytest.raises(ConfigError, match="takes an lgl_spl.Method"):
        L.register_method(own_methods.EvenFirst)


@pytest.mark.parametrize(
    "name,message",
    [
        ("no_such_module_xyz:M", "cannot import 'no_such_module_xyz'"),
        (f"{OWN}:MISSING", "has no attribute 'MISSING'"),
        (f"{OWN}:NOT_A_METHOD", "is a type, not an lgl_spl.Method"),
        (f"{OWN}:", "an import path reads package.module:ATTR"),
        ("no_such_method", "unknown method 'no_such_method'"),
    ],
)
def test_a_method_that_cannot_be_loaded_is_one_line(name, message):
    with pytest.raises(ConfigError, match=message) as info:
        L.build_sampler(name, labels=LABELS, batch_size=8, num_steps=20)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "attr,message",
    [
        ("WRONG_SHAPE", r"plan's indices have shape \[5, 7\], the steps need \[5, 8\]"),
        ("OUT_OF_RANGE", r"plan's indices reach \[10000, 10038\], outside the training set"),
        ("NAN_WEIGHTS", "plan's weights are not all finite"),
        ("UNKNOWN_SIGNAL", "needs_signals names 'gradients'"),
    ],
)
def test_a_sampler_that_breaks_the_protocol_is_one_line_naming_it(attr, message):
    s = L.build_sampler(f"{OWN}:{attr}", labels=LABELS, batch_size=8, num_steps=20)
    name = getattr(own_methods, attr).name
    with pytest.raises(
        ConfigError,
        match=rf"method '{name}' breaks the sampler protocol at round 0: (its )?{message}",
    ):
        state = s.init()
        s.needs(state, 0)
        s.plan(state, 0)


def test_an_exception_in_a_users_sampler_names_the_method_and_the_line():
    s = L.build_sampler(f"{OWN}:RAISES", labels=LABELS, batch_size=8, num_steps=20)
    state = s.init()
    _, state = s.plan(state, 0)
    with pytest.raises(UserCodeError) as info:
        s.plan(state, 1)
    line = (
        inspect.getsource(own_methods._Raises)
        .splitlines()
        .index('            raise ZeroDivisionError("my sampler divided by zero")')
        + inspect.getsourcelines(own_methods._Raises)[1]
    )
    where = os.path.join("tests", "samplers", "own_methods.py")
    assert str(info.value) == (
        f"method 'raises' raised ZeroDivisionError: my sampler divided by zero at {where}:{line}"
    )


def test_a_step_level_method_says_its_plan_holds_candidates():
    s = L.build_sampler("online_hard", labels=LABELS, batch_size=8, num_steps=20, candidates=24)
    assert s.step_selector.candidates == 24 and s.plan_width == 24
    plan, _ = s.plan(s.init(), 0)
    assert plan.indices.shape == (5, 24) and plan.keep == 8


# ---- through the program ----------------------------------------------------------------


def test_a_method_by_import_path_trains_through_the_program(tmp_path):
    c = tiny.get_config("random")
    override_method(c, [("name", f"{OWN}:EVEN_FIRST"), ("even_rounds", "3")])
    assert dict(c.method) == {"name": f"{OWN}:EVEN_FIRST", "even_rounds": 3}
    last = train_and_evaluate(c, str(tmp_path))
    rounds = read_rows(str(tmp_path), "rounds.jsonl")
    assert [r["selected_fraction"] for r in rounds] == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    assert last["test_accuracy"] > 0.3


def test_a_broken_method_stops_the_program_in_one_line(tmp_path, monkeypatch, capsys):
    code, err, _ = call_main(
        monkeypatch,
        capsys,
        f"--config={tiny.__file__}:random",
        f"--workdir={tmp_path}",
        f"--config.method.name={OWN}:OUT_OF_RANGE",
    )
    assert code == 2 and "Traceback" not in err, err
    (line,) = error_lines(err)
    assert "method 'out_of_range' breaks the sampler protocol at round 0" in line
    assert not (tmp_path / "checkpoints").exists() or not os.listdir(tmp_path / "checkpoints")


# ---- any config, any method ---------------------------------------------------------------


DIGITS = sorted(f[:-3] for f in os.listdir("configs") if f.startswith("digits_"))


@pytest.mark.parametrize("config_name", DIGITS)
def test_any_digits_config_takes_any_method(config_name):
    """The method block becomes the new method's at its defaults, then its settings; every
    other block stays as the config set it."""
    for name, method in registry.METHODS.items():
        c = load_config(config_name)
        others = {k: c[k].to_dict() for k in ("data", "model", "train")}
        override_method(c, [("name", name), *((k, str(v)) for k, v in method.tiny.items())])
        assert dict(c.method) == {"name": name, **method.defaults(), **method.tiny}
        assert {k: c[k].to_dict() for k in ("data", "model", "train")} == others


def test_a_setting_the_new_method_lacks_is_one_line_listing_its_settings():
    c = load_config("digits_random")
    with pytest.raises(ConfigError) as info:
        override_method(c, [("name", "spld"), ("num_clusterz", "3")])
    assert str(info.value) == (
        "--config.method.num_clusterz: method 'spld' has no setting 'num_clusterz'; did you "
        "mean 'num_clusters'? its settings: beta1, beta2, g0, groups, max_fraction, "
        "num_clusters, q0, rescore_every, warmup_rounds"
    )
    with pytest.raises(ConfigError, match="method.num_clusters must be an integer, got 'x'"):
        override_method(load_config("digits_random"), [("name", "spld"), ("num_clusters", "x")])
    c = load_config("digits_spld")  # the same method: the config's own settings are kept
    override_method(c, [("name", "spld"), ("q0", "0.3")])
    assert c.method.num_clusters == load_config("digits_spld").method.num_clusters
    assert c.method.q0 == 0.3


def _main(monkeypatch, *argv: str) -> None:
    """``lgl_spl.main.main`` in-process; a run that fails exits (SystemExit), which fails."""
    from lgl_spl import main as main_module
    from tests.reliability.common import reset_flags

    reset_flags()
    monkeypatch.setattr(sys, "argv", ["lgl_spl.main", *argv])
    try:
        main_module.main()
    finally:
        reset_flags()


@pytest.mark.slow
@pytest.mark.parametrize("config_name", DIGITS)
def test_any_digits_config_runs_any_method_from_the_command_line(
    tmp_path, monkeypatch, config_name
):
    """Short runs (320 digits, 3 rounds of 10 steps): every built-in method, switched to from
    the command line with its tiny settings following, trains to the end."""
    short = (
        "--config.data.train_limit=320", "--config.model.width=0.25",
        "--config.train.batch_size=32", "--config.train.num_steps=30",
        "--config.train.eval_every=30", "--config.train.log_every=1000",
    )  # fmt: skip
    for name in registry.BUILT_IN:
        method = registry.METHODS[name]
        workdir = tmp_path / name
        settings = [f"--config.method.{k}={v}" for k, v in method.tiny.items()]
        _main(
            monkeypatch, f"--config=configs/{config_name}.py", f"--workdir={workdir}",
            f"--config.method.name={name}", *settings, *short,
        )  # fmt: skip
        config = json.loads((workdir / "config.json").read_text())
        assert config["method.name"] == name
        assert config["train.optimizer"] == load_config(config_name).train.optimizer
        rows = read_rows(str(workdir), "metrics.jsonl")
        final = json.loads((workdir / "run_info.json").read_text())["final_step"]
        assert rows[-1]["step"] == final, (name, rows[-1])  # it finished
        assert final == config["train.num_steps"] or method.short_rounds, (name, final)
