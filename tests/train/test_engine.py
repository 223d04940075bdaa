"""The training engine end to end: metrics, compilation, devices, resume, paper configs."""

import ast
import functools
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lgl_spl import parallel
from lgl_spl.errors import ConfigError
from lgl_spl.train import train_and_evaluate
from tests.helpers import REPO, cli_env, load_config, read_metrics, tiny_digits, train_capturing

REQUIRED = {"step", "round", "test_accuracy", "train_loss", "selected_fraction", "wall_time"}


def test_digits_run_writes_metrics(tmp_path):
    c = tiny_digits(num_steps=200, eval_every=50, lr_decay_steps=200)
    last = train_and_evaluate(c, str(tmp_path))
    rows = read_metrics(str(tmp_path), drop=())
    assert [r["step"] for r in rows] == [50, 100, 150, 200]
    assert all(REQUIRED <= set(r) for r in rows)
    assert rows[-1]["round"] == 199 // 45  # 1,438 examples / 32 = 45 steps a round
    assert last["test_accuracy"] > 0.8
    assert os.path.isdir(tmp_path / "checkpoints")
    assert os.listdir(tmp_path / "tensorboard")


def test_each_step_compiles_once(tmp_path, monkeypatch):
    c = tiny_digits(num_steps=100, eval_every=25)
    exp, _ = train_capturing(c, str(tmp_path), monkeypatch)
    assert exp.steps.train._cache_size() == 1
    assert exp.steps.evaluate._cache_size() == 1


def test_one_and_two_devices_agree(tmp_path):
    rows = []
    for n in (1, 2):
        c = tiny_digits(num_devices=n)
        train_and_evaluate(c, str(tmp_path / f"d{n}"))
        rows.append(read_metrics(str(tmp_path / f"d{n}")))
    for a, b in zip(*rows, strict=True):
        assert a["step"] == b["step"]
        np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=2e-4)
        np.testing.assert_allclose(a["test_loss"], b["test_loss"], rtol=2e-4)


def test_resume_refuses_a_changed_config(tmp_path):
    train_and_evaluate(tiny_digits(num_steps=40), str(tmp_path))
    changed = tiny_digits(num_steps=60, learning_rate=0.2)
    with pytest.raises(ConfigError, match="different config.*train.learning_rate"):
        train_and_evaluate(changed, str(tmp_path))
    train_and_evaluate(changed, str(tmp_path), allow_config_change=True)
    assert read_metrics(str(tmp_path))[-1]["step"] == 60


def test_passes_over_the_data_use_evenly_filled_batches():
    assert parallel.pass_batch_size(1438, 1000) == 719  # two batches, not 1,000 + 438
    assert parallel.pass_batch_size(1438, 1000, 2) == 720  # a multiple of the devices
    assert parallel.pass_batch_size(2000, 1000) == 1000
    assert parallel.pass_batch_size(2001, 1000) == 667
    assert parallel.pass_batch_size(5, 1000, 4) == 8


def test_validation_split_is_reported(tmp_path):
    c = tiny_digits(num_steps=20)
    c.data.val_fraction = 0.1
    last = train_and_evaluate(c, str(tmp_path))
    assert 0.0 <= last["val_accuracy"] <= 1.0


# The run the kill test interrupts: 10 rounds, an evaluation every 20 steps (16 rows), a
# checkpoint at every second one (and at the SIGTERM). The signals come after 2 and 4 rows,
# so a fast machine still has a dozen rows to go when they land.
KILL_RUN = (
    "--config.model.width=0.5",
    "--config.train.batch_size=32",
    "--config.train.num_steps=320",
    "--config.train.eval_every=20",
    "--config.train.checkpoint_every=40",
    "--config.train.log_every=100000",
)


def _cli(workdir, *overrides, **popen):
    cmd = [
        sys.executable,
        "-m",
        "lgl_spl.main",
        "--config",
        "configs/digits_random.py",
        "--workdir",
        str(workdir),
        *overrides,
    ]
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _config(*overrides):
    """configs/digits_random.py with the CLI's ``--config.KEY=VALUE`` overrides applied."""
    c = load_config("digits_random")
    for override in overrides:
        key, value = override.removeprefix("--config.").split("=", 1)
        *parents, leaf = key.split(".")
        node = functools.reduce(getattr, parents, c)
        setattr(node, leaf, type(getattr(node, leaf))(ast.literal_eval(value)))
    return c


def _rows(workdir):
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def _interrupt(workdir, sig, after_rows, *overrides):
    proc = _cli(workdir, *overrides)
    deadline = time.time() + 120
    while _rows(workdir) < after_rows and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return proc


@pytest.mark.slow
def test_killed_and_terminated_run_resumes_exactly(tmp_path):
    # The uninterrupted reference is the same run made in-process (no third CLI start-up).
    train_and_evaluate(_config(*KILL_RUN), str(tmp_path / "ref"))
    total = _rows(tmp_path / "ref")
    assert total == 16
    run = tmp_path / "run"
    killed = _interrupt(run, signal.SIGKILL, 2, *KILL_RUN)
    assert killed.returncode == -signal.SIGKILL
    killed_at = _rows(run)
    terminated = _interrupt(run, signal.SIGTERM, killed_at + 2, *KILL_RUN)
    assert _rows(run) < total, "the run finished before it could be interrupted"
    assert terminated.returncode == 143 and "checkpoint saved" in terminated.stderr.read()
    again = _cli(run, *KILL_RUN)
    assert again.wait(timeout=300) == 0, again.stderr.read()
    assert read_metrics(str(run)) == read_metrics(str(tmp_path / "ref"))


PAPER_CONFIGS = sorted(
    f[:-3] for f in os.listdir(os.path.join(REPO, "configs")) if f.endswith(".py")
)
# One end-to-end run per paper × method family (every config is validated below).
RUN_UNDER_MOCK = [
    "cifar10_advise",
    "svhn_spld",
    "fashion_mnist_random",
    "cifar100_random",
    "cifar100_vgg16_lgl_d3",
    "cifar10_vgg16_spl_inv",
    "imagenet_vgg16_lgl_r2",
    "imagenet_resnet50_random",
]


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_every_config_is_valid(name):
    from lgl_spl.train.validate import validate_config

    validate_config(load_config(name))  # the schedules: tests/test_configs.py


# Widths this small give every layer one channel. The config's architecture (its depth,
# strides, blocks, head), data pipeline, method and schedule all still run; what it
# saves is XLA compilation, which dominates these runs: the student's initialisers
# compile once per distinct parameter shape (seconds each), and one channel
# everywhere leaves a handful of shapes instead of dozens per model.
ONE_CHANNEL = 1e-4


def tiny(c):
    """Shrunk as a user would from the command line: 4 epochs (the mock datasets' 8 examples
    in batches of 4: 8 steps), an evaluation every 2; the schedule follows (resolve)."""
    c.model.width = ONE_CHANNEL
    c.train.batch_size = 4
    c.train.num_epochs = 4
    c.train.eval_every_epochs = 2
    c.train.eval_batch_size = 8
    c.data.image_size = 32
    c.data.num_workers = 0  # host-decoded (ImageNet): decode in threads, no worker start-up
    if c.method.name == "advise":
        c.method.update(
            embed_width=ONE_CHANNEL,
            num_clusters=1,
            clusters_per_batch=2,
            examples_per_cluster=2,
            embed_steps=4,
            refresh_every=2,
        )
    if c.method.name == "spld":
        c.method.num_clusters = 1
    return c


@pytest.mark.slow
@pytest.mark.parametrize("name", RUN_UNDER_MOCK)
def test_paper_config_runs_under_mock_tfds(tmp_path, name):
    import tensorflow_datasets as tfds

    c = tiny(load_config(name))
    with tfds.testing.mock_data(num_examples=8):
        last = train_and_evaluate(c, str(tmp_path))
    rows = read_metrics(str(tmp_path))
    with open(tmp_path / "config.json") as f:
        steps = json.load(f)["train.num_steps"]
    with open(tmp_path / "run_info.json") as f:
        epoch = json.load(f)["steps_per_round"]  # 8 examples, or 16 where 'extra' joins (SVHN)
    # 4 epochs; LGL's paper budget is more than the baseline's.
    assert steps == 4 * epoch if c.method.name != "lgl" else steps > 4 * epoch
    every = 2 * epoch
    assert [r["step"] for r in rows] == [
        *range(every, steps + 1, every),
        *([steps] if steps % every else []),
    ]
    assert np.isfinite(last["train_loss"]) and 0.0 <= last["test_accuracy"] <= 1.0


@pytest.mark.slow
def test_host_decoded_run_resumed_mid_round_is_fed_the_same_images(tmp_path, monkeypatch):
    """ImageNet's host pipeline (random crops and flips keyed by the global step): a run
    stopped mid-round and resumed ends exactly as an uninterrupted one."""
    import tensorflow_datasets as tfds

    from tests.reliability.common import Crash, interrupt_at

    def config():
        c = tiny(load_config("imagenet_resnet50_random"))
        c.train.checkpoint_every = 3  # mid-round: a round is 16 / 4 = 4 steps
        c.train.num_epochs = 3  # 12 steps
        c.train.eval_every_epochs = 1
        return c

    with tfds.testing.mock_data(num_examples=16):  # 4 steps a round
        train_and_evaluate(config(), str(tmp_path / "ref"))
        interrupt_at(monkeypatch, 5)
        with pytest.raises(Crash):
            train_and_evaluate(config(), str(tmp_path / "run"))
        monkeypatch.undo()
        train_and_evaluate(config(), str(tmp_path / "run"))
    ref, run = read_metrics(str(tmp_path / "ref")), read_metrics(str(tmp_path / "run"))
    assert [r["step"] for r in ref] == [4, 8, 12] and run == ref
    with open(tmp_path / "run" / "timing.json") as f:
        assert json.load(f)["input"] >= 0.0  # the time the loop waited for input


@pytest.mark.slow
def test_bfloat16_training_is_within_a_point_of_float32_and_selects_on_float32(
    tmp_path, monkeypatch
):
    """Mixed precision on digits: the same run in bfloat16 ends within one point of float32;
    parameters and optimiser state stay float32, and SPL's selection reads float32 losses."""
    from lgl_spl.configlib import set_method
    from lgl_spl.samplers import self_paced
    from lgl_spl.train.loop import load_checkpoint

    accuracy = {"float32": [], "bfloat16": []}
    for seed in (0, 1, 2):  # 359 test images: one seed moves by a point on its own
        for dtype in accuracy:
            c = load_config("digits_random")  # a full-width LeNet, 1,500 steps
            c.train.compute_dtype = dtype
            c.seed = seed
            workdir = str(tmp_path / f"{dtype}_{seed}")
            exp, last = train_capturing(c, workdir, monkeypatch)
            accuracy[dtype].append(last["test_accuracy"])
            assert exp.model.dtype == (jnp.bfloat16 if dtype == "bfloat16" else jnp.float32)
            rs, _ = load_checkpoint(exp, workdir)
            floats = jax.tree.leaves((rs.train.params, rs.train.opt_state))
            assert all(
                x.dtype == jnp.float32 for x in floats if jnp.issubdtype(x.dtype, jnp.inexact)
            )
    mean = {k: float(np.mean(v)) for k, v in accuracy.items()}
    assert mean["float32"] > 0.95
    assert abs(mean["bfloat16"] - mean["float32"]) <= 0.01, accuracy

    seen = []
    real = self_paced.SelfPacedSampler._select

    def select(self, losses, e, state):
        seen.append(np.asarray(losses).dtype)
        return real(self, losses, e, state)

    monkeypatch.setattr(self_paced.SelfPacedSampler, "_select", select)
    c = set_method(tiny_digits(num_steps=90, eval_every=90, lr_decay_steps=90), "spl")
    c.train.compute_dtype = "bfloat16"
    train_and_evaluate(c, str(tmp_path / "spl"))
    assert seen and all(d == np.float32 for d in seen)
