"""Shared test helpers: load repository configs and read metrics."""

from __future__ import annotations

import importlib.util
import json
import os

import jax

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs")


def load_config(name: str):
    """``configs/<name>.py``'s get_config()."""
    path = os.path.join(CONFIGS, f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"config_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def cli_env() -> dict:
    """A CLI subprocess's environment: 2 CPU devices and this session's XLA cache."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    env["JAX_PLATFORMS"] = "cpu"
    cache = jax.config.jax_compilation_cache_dir
    if cache:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return env


def train_capturing(config, workdir: str, monkeypatch):
    """``train_and_evaluate`` that also returns the run's :class:`Experiment` (its steps…)."""
    from lgl_spl.train import loop

    built = []
    real = loop.build_experiment

    def build(c):
        built.append(real(c))
        return built[-1]

    monkeypatch.setattr(loop, "build_experiment", build)
    last = loop.train_and_evaluate(config, workdir)
    monkeypatch.setattr(loop, "build_experiment", real)
    return built[-1], last


def read_rows(workdir: str, name: str) -> list[dict]:
    with open(os.path.join(workdir, name)) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_metrics(workdir: str, *, drop=("wall_time",)) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def tiny_digits(**train):
    """A digits run of a few seconds: small LeNet, batch divisible by 2 devices."""
    c = load_config("digits_random")
    c.model.width = 0.5
    c.train.batch_size = 32
    c.train.num_steps = 60
    c.train.eval_every = 20
    c.train.log_every = 1000
    c.train.eval_batch_size = 200
    c.train.lr_decay_steps = 60
    c.train.update(train)
    return c


def load_sweep():
    """``launch/sweep.py`` as a module (it is a script, not part of the package)."""
    import sys

    spec = importlib.util.spec_from_file_location("sweep", os.path.join(REPO, "launch", "sweep.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["sweep"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
