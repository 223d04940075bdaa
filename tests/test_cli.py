"""Bad input stops before training with one clear line and a non-zero exit."""

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO


def run(*args, **env_vars):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", **env_vars)
    return subprocess.run(
        [sys.executable, "-m", "lgl_spl.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "configs/missing.py", "--workdir", "{tmp}"], "cannot load the config file"),
        (["--config", "{tmp}/broken.py", "--workdir", "{tmp}"], "broken.py, line 2: SyntaxError"),
        (
            [
                "--config",
                "configs/digits_random.py",
                "--workdir",
                "{tmp}",
                "--config.method.name=foo",
            ],
            "unknown method 'foo'",
        ),
        (
            [
                "--config",
                "configs/digits_random.py",
                "--workdir",
                "{tmp}",
                "--config.model.name=foo",
            ],
            "unknown model 'foo'",
        ),
        (
            [
                "--config",
                "configs/digits_random.py",
                "--workdir",
                "{tmp}",
                "--config.data.name=foo",
            ],
            "unknown dataset 'foo'",
        ),
        (
            [
                "--config",
                "configs/digits_random.py",
                "--workdir",
                "{tmp}",
                "--config.train.batch_size=33",
            ],
            "not divisible by the 2 devices",
        ),
        (
            ["--config", "configs/digits_random.py", "--workdir", "/proc/no/such"],
            "cannot be written",
        ),
        (
            [
                "--config",
                "configs/cifar10_random.py",
                "--workdir",
                "{tmp}",
                "--config.data.data_dir={tmp}/tfds",
            ],
            "not prepared",
        ),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    (tmp_path / "broken.py").write_text("def get_config():\n    return dict(\n")
    result = run(*args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(os.path.join(str(tmp_path), "metrics.jsonl"))


def test_console_reports_progress_evaluations_and_a_summary(tmp_path):
    """What a person running a digits experiment sees: where the run goes, timestamped
    progress with the training loss, test and validation accuracy at every evaluation, a
    closing summary with the TensorBoard command."""
    workdir = tmp_path / "run"
    result = run(
        "--config",
        "tests/reliability/tiny.py:spl",
        "--workdir",
        str(workdir),
        "--config.train.log_every=10",
        "--config.data.val_fraction=0.1",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    assert all(re.match(stamp, line) for line in lines if line.strip()), lines
    text = "\n".join(lines)
    assert f"run directory: {workdir}" in lines[0]
    assert re.search(r"step 10/60 \| round 1 \| train loss \d+\.\d{4} \| lr ", text)
    evals = re.findall(r"eval at step (\d+) .*: test accuracy [\d.]+ %, loss [\d.]+ \| val ", text)
    assert evals == ["15", "30", "45", "60"]
    assert re.search(r"done in .*: final test accuracy [\d.]+ % at step 60", text)
    assert f"tensorboard --logdir {workdir}/tensorboard" in text


@pytest.mark.parametrize(
    ("model", "raised", "line"),
    [
        ("RaisesInCall", "ValueError: the model is unhappy", 82),  # at the first train step
        ("NNXRaisesInInit", "KeyError: 'no such layer'", 168),  # while the model is built
    ],
)
def test_a_user_model_error_is_one_line_with_the_log(tmp_path, model, raised, line):
    """An exception in the user's own model: one line naming the model, the exception and the
    line of the user's file; the whole traceback in DIR/error.log (or on the console)."""
    workdir = tmp_path / "run"
    args = ["--config", "configs/digits_random.py", "--workdir", str(workdir)]
    args += [f"--config.model.name=tests.models.own_models:{model}", "--config.model.width=1"]
    done = run(*args)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    (error,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    path = os.path.join("tests", "models", "own_models.py")
    assert error.startswith(f"error: model 'tests.models.own_models:{model}' raised {raised} ")
    assert error.endswith(f"at {path}:{line} (the full traceback is in {workdir}/error.log)")
    log = (workdir / "error.log").read_text()
    assert "Traceback (most recent call last)" in log and f'own_models.py", line {line}' in log
    metrics, checkpoints = workdir / "metrics.jsonl", workdir / "checkpoints"
    assert not metrics.exists() or not metrics.read_text()  # no row, no step saved
    assert not checkpoints.exists() or not [p for p in os.listdir(checkpoints) if p.isdigit()]

    shown = run(*args, LGL_SPL_TRACEBACK="1")
    assert shown.returncode == 1 and "Traceback (most recent call last)" in shown.stderr
    assert shown.stderr.strip().splitlines()[-1].endswith(f"at {path}:{line}")
