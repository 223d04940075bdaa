"""Bad input stops before training, in seconds, with one line naming the problem, exit 2.

Most checks call the validation functions or the real CLI entry point in-process
(``lgl_spl.main.main``, which prints the one line and exits); a few run the CLI as a
subprocess to show the whole process prints no traceback. More subprocess cases:
tests/test_cli.py::test_bad_input_is_one_line.
"""

import os
import sys
import time
import types

import ml_collections
import numpy as np
import pytest

from lgl_spl import data as data_lib
from lgl_spl import main as main_module
from lgl_spl.configlib import set_method
from lgl_spl.data import sources
from lgl_spl.errors import ConfigError, DatasetUnavailableError
from lgl_spl.lock import claim_workdir
from lgl_spl.samplers import SamplerContext, make_sampler
from lgl_spl.train import experiment as experiment_module
from lgl_spl.train.validate import validate_config, validate_devices
from tests.reliability.common import TINY, call_main, cli, config, error_lines, reset_flags

# ---- config values: validate_config, before any data is read -------------------------


def _set(path, value):
    def apply(c):
        node = c
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
        return c

    return apply


def _method(name, **kw):
    return lambda c: set_method(c, name, **kw)


NAN, INF = float("nan"), float("inf")

CONFIG_CASES = {
    "unknown method": (_set("method.name", "foo"), "unknown method 'foo'"),
    "unknown model": (_set("model.name", "foo"), "unknown model 'foo'"),
    "unknown dataset": (_set("data.name", "foo"), "unknown dataset 'foo'"),
    "unknown lgl order": (_method("lgl", order="sideways"), "method.order must be one of"),
    "lgl zero stages": (_method("lgl", num_stages=0), "method.num_stages must be ≥ 1"),
    "lgl unknown budget": (_method("lgl", budget="huge"), "method.budget must be one of"),
    "q0 negative": (_method("spl", q0=-0.1), "method.q0 must be a finite number > 0"),
    "q0 zero": (_method("spld", q0=0.0), "method.q0 must be a finite number > 0"),
    "q0 nan": (_method("spl_inv", q0=NAN), "method.q0 must be a finite number > 0"),
    "q0 above one": (_method("spl", q0=1.5), "≤ 1, got 1.5"),
    "beta1 negative": (_method("spl", beta1=-0.1), "method.beta1 must be a finite number ≥ 0"),
    "beta1 nan": (_method("spld", beta1=NAN), "method.beta1 must be a finite number"),
    "beta2 negative": (_method("spld", beta2=-1.0), "method.beta2 must be a finite number ≥ 0"),
    "beta2 inf": (_method("advise", beta2=INF), "method.beta2 must be a finite number"),
    "g0 negative": (_method("spld", g0=-0.5), "method.g0 must be a finite number ≥ 0"),
    "g0 nan": (_method("advise", g0=NAN), "method.g0 must be a finite number"),
    "warmup negative": (_method("spl", warmup_rounds=-1), "method.warmup_rounds must be ≥ 0"),
    "rescore zero": (_method("spl", rescore_every=0), "method.rescore_every must be ≥ 1"),
    "zero clusters": (_method("spld", num_clusters=0), "method.num_clusters must be ≥ 1"),
    "spld groups": (_method("spld", groups="labels"), "method.groups must be one of"),
    "one cluster per batch": (
        _method("advise", clusters_per_batch=1),
        "method.clusters_per_batch must be ≥ 2",
    ),
    "no examples per cluster": (
        _method("advise", examples_per_cluster=0),
        "method.examples_per_cluster must be ≥ 1",
    ),
    "refresh zero": (_method("advise", refresh_every=0), "method.refresh_every must be ≥ 1"),
    "embed lr nan": (_method("advise", embed_lr=NAN), "method.embed_lr must be a finite"),
    "advise schedule": (_method("advise", schedule="after"), "method.schedule must be one of"),
    "embed model": (_method("advise", embed_model="lenet"), "method.embed_model must be one of"),
    "alpha negative": (_method("advise", alpha=-1.0), "method.alpha must be a finite number ≥ 0"),
    "learning rate nan": (_set("train.learning_rate", NAN), "train.learning_rate must be"),
    "batch zero": (_set("train.batch_size", 0), "train.batch_size must be > 0"),
    "eval batch zero": (_set("train.eval_batch_size", 0), "train.eval_batch_size must be ≥ 1"),
    "devices negative": (_set("train.num_devices", -1), "train.num_devices must be ≥ 0"),
    "unknown optimizer": (_set("train.optimizer", "lion"), "unknown optimizer 'lion'"),
    "unknown schedule": (_set("train.lr_schedule", "step"), "unknown train.lr_schedule 'step'"),
    "momentum nan": (_set("train.momentum", NAN), "train.momentum must be a finite number"),
    "weight decay negative": (_set("train.weight_decay", -1e-4), "train.weight_decay must be"),
    "width nan": (_set("model.width", NAN), "model.width must be > 0"),
    "label noise": (_set("data.label_noise", 1.0), "data.label_noise must be in [0, 1)"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config_values_are_named(case):
    mutate, message = CONFIG_CASES[case]
    with pytest.raises(ConfigError, match=_literal(message)):
        validate_config(mutate(config("random")))


def test_missing_required_key_is_named():
    c = config("random")
    with c.unlocked():
        del c.data["npz_path"]
    with pytest.raises(ConfigError, match="config is missing the key 'data.npz_path'"):
        validate_config(c)


def test_every_method_config_passes():
    for name in ("random", "spl", "spl_inv", "spld", "advise", "lgl"):
        validate_config(config(name))


def _literal(text):
    import re

    return re.escape(text)


# ---- devices: validate_devices, before the data is read --------------------------------


def test_batch_not_divisible_by_devices():
    with pytest.raises(ConfigError, match="batch_size 33 is not divisible by the 2 devices"):
        validate_devices(config("random", batch_size=33), 2)
    with pytest.raises(ConfigError, match="batch_size 30 is not divisible by the 4 devices"):
        validate_devices(config("random", batch_size=30, num_devices=4), 4)
    validate_devices(config("random", batch_size=33, num_devices=1), 2)  # one device: fine


def test_more_devices_than_available():
    with pytest.raises(ConfigError, match="train.num_devices=4 but only 2 devices"):
        validate_devices(config("random", num_devices=4), 2)


# ---- data-dependent method checks: the samplers, before the model is built ------------


def _context(counts, *, steps=400, batch=8):
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int32)
    return SamplerContext(
        num_examples=len(labels),
        num_classes=len(counts),
        batch_size=batch,
        seed=0,
        num_steps=steps,
        labels=labels,
        x_train=np.zeros((len(labels), 4, 4, 1), np.uint8),
    )


def _method_cfg(name, **kw):
    return set_method(ml_collections.ConfigDict({"method": {}}), name, **kw).method


@pytest.mark.parametrize(
    ("method", "kw", "counts", "message"),
    [
        ("spld", {"num_clusters": 4}, [10, 3, 10], "K=4 is larger than the smallest class (3"),
        ("advise", {"num_clusters": 4}, [10, 3, 10], "K=4 is larger than the smallest class (3"),
        (
            "advise",
            {"num_clusters": 2, "clusters_per_batch": 6},
            [10, 10, 10],
            "M=6 exceeds the clusters available to one neighbourhood (1 seed + 4",
        ),
        ("lgl", {"num_stages": 4}, [5, 5, 5], "num_stages must be between 1 and the 3 classes"),
        ("lgl", {"num_stages": 6}, [5] * 10, "gives only 5 stages; choose num_stages=5"),
        ("lgl", {"num_stages": 3}, [5, 5, 5], "needs at least as many rounds"),
    ],
)
def test_method_does_not_fit_the_data(method, kw, counts, message):
    steps = 2 if "rounds" in message else 400
    with pytest.raises(ConfigError, match=_literal(message)):
        make_sampler(_method_cfg(method, **kw), _context(counts, steps=steps))


def test_empty_class_is_not_the_smallest_class():
    """A label with no examples (npz label_names) does not make every K too large."""
    make_sampler(_method_cfg("spld", num_clusters=3), _context([5, 0, 5]))


# ---- npz files -------------------------------------------------------------------------


def _arrays(**changes):
    rng = np.random.default_rng(0)
    a = {
        "x_train": rng.integers(0, 256, (20, 8, 8), dtype=np.uint8),
        "y_train": np.arange(20) % 4,
        "x_test": rng.integers(0, 256, (8, 8, 8), dtype=np.uint8),
        "y_test": np.arange(8) % 4,
        "label_names": np.array(["a", "b", "c", "d"]),
    }
    a.update(changes)
    return {k: v for k, v in a.items() if v is not None}


NPZ_CASES = {
    "missing key": (_arrays(y_test=None), "is missing the keys ['y_test']"),
    "float images": (_arrays(x_train=np.zeros((20, 8, 8), np.float32)), "x_train must be uint8"),
    "float labels": (
        _arrays(y_train=np.zeros(20, np.float32)),
        "y_train must be a 1-D integer array",
    ),
    "2-d labels": (_arrays(y_test=np.zeros((8, 1), int)), "y_test must be a 1-D integer array"),
    "label too large": (
        _arrays(y_train=np.arange(20) % 5),
        "y_train has labels outside [0, 4) (min 0, max 4)",
    ),
    "negative label": (_arrays(y_test=np.arange(8) % 4 - 1), "y_test has labels outside [0, 4)"),
    "lengths differ": (
        _arrays(y_train=np.arange(19) % 4),
        "x_train has 20 examples but y_train has 19",
    ),
    "empty train": (
        _arrays(x_train=np.zeros((0, 8, 8), np.uint8), y_train=np.zeros(0, int)),
        "the train split is empty",
    ),
    "empty test": (
        _arrays(x_test=np.zeros((0, 8, 8), np.uint8), y_test=np.zeros(0, int)),
        "the test split is empty",
    ),
    "image shapes differ": (
        _arrays(x_test=np.zeros((8, 9, 9), np.uint8)),
        "train and test images have different shapes",
    ),
    "flat images": (_arrays(x_train=np.zeros((20, 64), np.uint8)), "must be [N,H,W] or"),
}


@pytest.mark.parametrize("case", NPZ_CASES)
def test_bad_npz_is_named(tmp_path, case):
    arrays, message = NPZ_CASES[case]
    path = str(tmp_path / "data.npz")
    np.savez(path, **arrays)
    with pytest.raises(ConfigError, match=_literal(message)):
        data_lib.load(ml_collections.ConfigDict({"name": "mine", "npz_path": path}))


def test_unreadable_npz_files(tmp_path):
    def load(path):
        return data_lib.load(ml_collections.ConfigDict({"name": "mine", "npz_path": str(path)}))

    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(ConfigError, match="cannot be read"):
        load(tmp_path / "text.npz")
    np.savez(tmp_path / "good.npz", **_arrays())
    raw = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])  # a copy cut short
    with pytest.raises(ConfigError, match="cannot be read"):
        load(tmp_path / "cut.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ConfigError, match="holds a single array"):
        load(tmp_path / "single.npy")
    np.savez(tmp_path / "pickled.npz", **_arrays(y_train=np.array([{}] * 20, dtype=object)))
    with pytest.raises(ConfigError, match="cannot be read"):
        load(tmp_path / "pickled.npz")


# ---- workdir, datasets offline, TensorFlow ------------------------------------------


def test_workdir_that_cannot_be_written(tmp_path):
    (tmp_path / "a_file").write_text("")
    for bad in (tmp_path / "a_file", tmp_path / "a_file" / "below", "/proc/no/such"):
        with pytest.raises(ConfigError, match="cannot be written"):
            claim_workdir(str(bad))


def test_tfds_dataset_missing_offline(tmp_path):
    t0 = time.time()
    cfg = ml_collections.ConfigDict({"name": "mnist", "npz_path": "", "data_dir": str(tmp_path)})
    with pytest.raises(DatasetUnavailableError, match="'mnist' is not prepared in .*cannot down"):
        data_lib.load(cfg)
    assert time.time() - t0 < 60  # seconds, never a download attempt


@pytest.mark.parametrize(
    "error",
    [
        NotImplementedError(
            "Random access data source for file format FileFormat.TFRECORD is not supported."
            " Possible root causes:\n\t* You have to run download_and_prepare with ..."
        ),
        ModuleNotFoundError("No module named 'tensorflow'"),
    ],
)
def test_dataset_that_needs_tensorflow(monkeypatch, error):
    """A tfds dataset prepared as tfrecord needs TensorFlow, which this project does not use."""
    import tensorflow_datasets as tfds

    def data_source(*args, **kwargs):
        raise error

    prepared = types.SimpleNamespace(is_prepared=lambda: True)
    monkeypatch.setattr(tfds, "data_source", data_source)
    monkeypatch.setattr(tfds, "builder", lambda *a, **k: prepared)
    with pytest.raises(DatasetUnavailableError) as info:
        sources.tfds_source("cifar10", "train", "/data/tfds")
    message = str(info.value)
    assert "\n" not in message and "needs TensorFlow" in message
    assert "--file_format=array_record --data_dir /data/tfds" in message
    if not any(m.startswith("tensorflow") for m in sys.modules if m != "tensorflow_datasets"):
        assert "TensorFlow is not installed" in message


def test_unprepared_dataset_error_is_one_line(monkeypatch):
    import tensorflow_datasets as tfds

    def data_source(*args, **kwargs):
        raise ValueError("first line\nsecond line")

    monkeypatch.setattr(tfds, "data_source", data_source)
    monkeypatch.setattr(tfds, "builder", lambda *a, **k: types.SimpleNamespace(is_prepared=bool))
    with pytest.raises(DatasetUnavailableError, match="is not prepared") as info:
        sources.tfds_source("cifar10", "train")
    assert "\n" not in str(info.value)


# ---- the CLI entry point, in-process ---------------------------------------------------


@pytest.fixture
def run_main(monkeypatch, capsys):
    """Call ``lgl_spl.main.main`` in-process; building the train state fails the test."""

    def setup_reached(*args, **kwargs):
        raise AssertionError("training setup started despite the bad input")

    monkeypatch.setattr(experiment_module, "create_train_state", setup_reached)
    yield lambda *argv: call_main(monkeypatch, capsys, *argv)
    reset_flags()


def _npz(tmp_path, **changes):
    path = str(tmp_path / "bad.npz")
    np.savez(path, **_arrays(**changes))
    return path


MAIN_CASES = {
    "unknown method": (["--config.method.name=foo"], "unknown method 'foo'"),
    "unknown model": (["--config.model.name=foo"], "unknown model 'foo'"),
    "unknown dataset": (["--config.data.name=foo"], "unknown dataset 'foo'"),
    "unknown lgl order": (["--config.method.order=up"], "method.order must be one of", "lgl"),
    "no config file": (["--config=configs/none.py"], "cannot load the config file"),
    "unknown config key": (["--config.train.num_step=5"], "did you mean 'num_steps'"),
    "bad config value": (["--config.train.num_steps=abc"], "invalid literal for int()"),
    "batch vs devices": (["--config.train.batch_size=33"], "not divisible by the 2 devices"),
    "too many devices": (["--config.train.num_devices=3"], "only 2 devices are available"),
    "K above a class": (["--config.method.num_clusters=40"], "K=40 is larger", "spld"),
    "M above clusters": (
        ["--config.method.clusters_per_batch=20"],
        "M=20 exceeds the clusters available",
        "advise",
    ),
    "stages above classes": (["--config.method.num_stages=11"], "between 1 and the 10", "lgl"),
    "q0 nan": (["--config.method.q0=nan"], "method.q0 must be a finite number", "spl"),
    "beta1 negative": (["--config.method.beta1=-0.2"], "method.beta1 must be", "spld"),
    "beta2 nan": (["--config.method.beta2=nan"], "method.beta2 must be", "advise"),
    "g0 negative": (["--config.method.g0=-1"], "method.g0 must be", "spl_inv"),
    "npz labels": (["--config.data.npz_path={npz}"], "labels outside [0, 4)"),
    "npz missing": (["--config.data.npz_path=/no/such.npz"], "does not exist"),
    "workdir": (["--workdir=/proc/no/such"], "cannot be written"),
    "tfds offline": (
        ["--config.data.name=mnist", "--config.data.data_dir={tmp}"],
        "'mnist' is not prepared",
    ),
}


@pytest.mark.parametrize("case", MAIN_CASES)
def test_cli_entry_stops_before_training(run_main, tmp_path, case):
    extra, message, *method = MAIN_CASES[case]
    npz = _npz(tmp_path, y_train=np.arange(20) % 5) if "{npz}" in " ".join(extra) else ""
    extra = [a.format(npz=npz, tmp=tmp_path / "tfds") for a in extra]
    workdir = tmp_path / "run"
    code, err, seconds = run_main(
        f"--config={TINY}:{method[0] if method else 'random'}", f"--workdir={workdir}", *extra
    )
    assert code == 2, err
    (line,) = error_lines(err)
    assert message in line, line
    assert "Traceback" not in err
    assert not (workdir / "metrics.jsonl").exists() and not (workdir / "checkpoints").exists()
    assert seconds < 60


def test_cli_entry_requires_a_config_and_no_stray_arguments(run_main):
    code, err, _ = run_main("--workdir=/tmp/x")
    assert code == 2 and "--config is required" in error_lines(err)[0]
    code, err, _ = run_main(f"--config={TINY}", "--workdir=/tmp/x", "stray")
    assert code == 2 and error_lines(err) == ["error: unexpected arguments: stray"]


def test_cli_entry_defaults_the_workdir_to_runs_config_name(monkeypatch):
    """``--config configs/x.py`` alone runs in runs/x (runs/tiny_spl for ``tiny.py:spl``)."""
    import lgl_spl.train

    seen = {}

    def fake(config, workdir, **kwargs):
        seen["workdir"] = workdir
        seen["method"] = config.method.name

    monkeypatch.setattr(lgl_spl.train, "train_and_evaluate", fake)
    reset_flags()
    monkeypatch.setattr(sys, "argv", ["lgl_spl.main", f"--config={TINY}:spl"])
    try:
        main_module.main()
    finally:
        reset_flags()
    assert seen == {"workdir": os.path.join("runs", "tiny_spl"), "method": "spl"}


BROKEN_CONFIGS = {
    "syntax": ("def get_config(:\n    return 1\n", "line 1: SyntaxError"),
    "import": (
        "from lgl_spl.configlib import no_such_helper\n\ndef get_config():\n    return 1\n",
        "line 1: ImportError: cannot import name 'no_such_helper'",
    ),
    "misspelt key": (
        "from lgl_spl.configlib import digits_student\n\n"
        "def get_config():\n    c = digits_student()\n    c.train.num_step = 5\n    return c\n",
        "line 5: AttributeError: the config has no key 'num_step'; did you mean 'num_steps'?",
    ),
    # ml_collections wraps a TypeError or ValueError in a new one holding the whole traceback.
    "user's ValueError": (
        "def get_config():\n    raise ValueError('my own check failed\\nsecond line')\n",
        "line 2: ValueError: my own check failed",
    ),
    "wrong type": (
        "from lgl_spl.configlib import digits_student\n\n"
        "def get_config():\n    c = digits_student()\n    c.train.batch_size = 'x'\n    return c\n",
        "line 5: TypeError: Could not override field 'batch_size'",
    ),
    "project error": (
        "from lgl_spl.configlib import control_row\n\n"
        "def get_config():\n    return control_row('fashion_mnist,spl,sym7')\n",
        "line 4: 'fashion_mnist,spl,sym7': expected DATASET,METHOD[,NOISE[,BUDGET]]",
    ),
}


@pytest.mark.parametrize("case", BROKEN_CONFIGS)
def test_broken_config_file_is_one_line_naming_file_and_line(run_main, tmp_path, case):
    text, message = BROKEN_CONFIGS[case]
    path = tmp_path / "broken.py"
    path.write_text(text)
    code, err, _ = run_main(f"--config={path}", f"--workdir={tmp_path / 'run'}")
    assert code == 2 and "Traceback" not in err, err
    (line,) = error_lines(err)
    assert line.startswith(f"error: cannot load the config file {path}, "), line
    assert message in line, line


def test_a_config_files_own_error_can_show_its_traceback(run_main, tmp_path, monkeypatch):
    """One line by default (saying how to see more); the traceback with LGL_SPL_TRACEBACK=1."""
    path = tmp_path / "broken.py"
    path.write_text("def get_config():\n    return helper()\n\ndef helper():\n    return 1 / 0\n")
    code, err, _ = run_main(f"--config={path}", f"--workdir={tmp_path / 'run'}")
    (line,) = error_lines(err)
    assert code == 2 and "Traceback" not in err, err
    assert line.endswith(
        "line 5: ZeroDivisionError: division by zero (LGL_SPL_TRACEBACK=1 shows the traceback)"
    )
    monkeypatch.setenv("LGL_SPL_TRACEBACK", "1")
    code, err, _ = run_main(f"--config={path}", f"--workdir={tmp_path / 'run'}")
    assert code == 2 and "Traceback (most recent call last)" in err and "return 1 / 0" in err
    (line,) = error_lines(err)
    assert line.endswith("line 5: ZeroDivisionError: division by zero"), line


@pytest.mark.parametrize(
    "arg, message",
    [
        ("configs/cpu/control.py:bogus", "expected DATASET,METHOD[,NOISE[,BUDGET]]"),
        ("configs/cpu/control.py:mnist,spl", "DATASET must be one of"),
        ("configs/cpu/control.py:fashion_mnist,nomethod", "unknown method 'nomethod'"),
        ("configs/digits_random.py:arg", "TypeError: get_config() takes 0 positional"),
    ],
)
def test_config_argument_errors_are_one_line_naming_the_file(run_main, tmp_path, arg, message):
    code, err, _ = run_main(f"--config={arg}", f"--workdir={tmp_path / 'run'}")
    assert code == 2 and "Traceback" not in err, err
    (line,) = error_lines(err)
    assert line.startswith(f"error: cannot load the config file {arg.partition(':')[0]}"), line
    assert message in line, line


def test_help_lists_the_flags_and_exits_zero(monkeypatch, capsys):
    for flag, expected in (("--help", "--config.KEY=VALUE"), ("--helpfull", "--workdir")):
        monkeypatch.setattr(sys, "argv", ["lgl_spl.main", flag])
        with pytest.raises(SystemExit) as info:
            main_module.main()
        out = capsys.readouterr().out
        assert info.value.code == 0 and expected in out and "allow_config_change" in out


# ---- the real CLI: one line, no traceback, for the whole process ------------------------


@pytest.mark.slow
def test_cli_process_prints_one_line(tmp_path):
    """A whole CLI process: exit 2, one line, no traceback, nothing written."""
    workdir = tmp_path / "run"
    done = cli(f"--config={TINY}:spl", f"--workdir={workdir}", "--config.method.q0=nan")
    assert done.returncode == 2, done.stderr
    (line,) = error_lines(done.stderr)
    assert "method.q0 must be a finite number > 0 and ≤ 1, got nan" in line
    assert "Traceback" not in done.stderr and not os.path.exists(workdir / "checkpoints")
