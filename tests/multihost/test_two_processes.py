"""Two JAX processes on this machine (one CPU device each, gloo collectives), started by
``launch/multiprocess.py``, train exactly like one process with two devices.

The run is tiny digits with ``spl``: besides the sharded train and eval steps it has a
scoring pass (batch-sharded outputs gathered from both processes) and sampler state in
the checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lgl_spl.data.sources import load_digits
from tests.helpers import REPO, read_metrics

pytestmark = pytest.mark.slow

# tests/helpers.py::tiny_digits as command-line overrides (100 steps, so a SIGTERM after the
# first of 5 rows lands well before the end); rounds 1 and 2 (from step 45) are scored.
OVERRIDES = (
    "--config.model.width=0.5",
    "--config.train.batch_size=32",
    "--config.train.num_steps=100",
    "--config.train.eval_every=20",
    "--config.train.log_every=1000",
    "--config.train.eval_batch_size=200",
    "--config.train.lr_decay_steps=100",
)
TIMEOUT = 300  # seconds for one launch; the launcher's own limit is a little shorter


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Processes share a compilation cache: on 2 cores compiling costs more than training."""
    cache = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        cache = cache.parent  # the workers' base directories are siblings
    return dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
        JAX_COMPILATION_CACHE_DIR=str(cache / "multihost_jax_cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    )


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory) -> str:
    """The digits split as local arrays: each process then skips importing scikit-learn."""
    raw = load_digits(seed=0)
    path = str(tmp_path_factory.mktemp("data") / "digits.npz")
    np.savez(path, x_train=raw.x_train, y_train=raw.y_train, x_test=raw.x_test, y_test=raw.y_test)
    return path


def _main_args(workdir, npz: str) -> list[str]:
    config = os.path.join(REPO, "configs", "digits_spl.py")
    args = ["--config", config, "--workdir", str(workdir), *OVERRIDES]
    return [*args, f"--config.data.npz_path={npz}"]


def _launch(workdir, env, npz: str) -> subprocess.Popen:
    launcher = os.path.join(REPO, "launch", "multiprocess.py")
    cmd = [sys.executable, launcher, "--num_processes=2", "--cpu_devices_per_process=1"]
    cmd += [f"--timeout={TIMEOUT - 30}", "--", *_main_args(workdir, npz)]
    return _popen(cmd, env)


def _popen(cmd, env) -> subprocess.Popen:
    # Its own session, so a hung run can be ended with all its processes.
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"the run did not finish in {TIMEOUT} s:\n{_summary(err)}")
    return proc.returncode, err


def _summary(err: str) -> str:
    """The error lines of a run's stderr (tracebacks of two processes are long), then its end."""
    errors = [line for line in err.splitlines() if "Error" in line or "error:" in line]
    return "\n".join([*errors[-10:], "...", err[-2000:]])


def _rows(workdir) -> int:
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def _run_info(workdir) -> dict:
    with open(os.path.join(workdir, "run_info.json")) as f:
        return json.load(f)


def assert_same_metrics(got: list[dict], want: list[dict]) -> None:
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for key, value in b.items():
            if isinstance(value, float):
                # gloo and XLA's in-process all-reduce may sum in different orders.
                np.testing.assert_allclose(a[key], value, rtol=1e-5, atol=1e-7, err_msg=key)
            else:
                assert a[key] == value, key


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env, digits_npz):
    """The same command in one process with two forced CPU devices: same global batch,
    same split of it over two devices."""
    workdir = tmp_path_factory.mktemp("one_process")
    env = dict(env, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    code, err = _wait(
        _popen([sys.executable, "-m", "lgl_spl.main", *_main_args(workdir, digits_npz)], env)
    )
    assert code == 0, _summary(err)
    info = _run_info(workdir)
    assert (info["num_processes"], info["num_devices"]) == (1, 2)
    rows = read_metrics(str(workdir))
    assert rows[-1]["scoring_forward_passes"] > 0 and rows[-1]["selected_fraction"] < 1
    return rows


def test_two_processes_match_one_process_with_two_devices(tmp_path, env, digits_npz, reference):
    code, err = _wait(_launch(tmp_path, env, digits_npz))
    assert code == 0, _summary(err)
    info = _run_info(tmp_path)
    assert (info["num_processes"], info["num_devices"]) == (2, 2)
    assert_same_metrics(read_metrics(str(tmp_path)), reference)  # one writer: no duplicate rows
    assert os.path.isdir(tmp_path / "checkpoints" / "100")


def test_two_processes_stopped_by_sigterm_resume_exactly(tmp_path, env, digits_npz, reference):
    proc = _launch(tmp_path, env, digits_npz)
    deadline = time.monotonic() + TIMEOUT
    while _rows(tmp_path) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)  # the launcher forwards it to both processes
    code, err = _wait(proc)
    assert _rows(tmp_path) < len(reference), "the run finished before it could be stopped"
    assert code == 143 and "checkpoint saved" in err, _summary(err)
    code, err = _wait(_launch(tmp_path, env, digits_npz))
    assert code == 0, _summary(err)
    assert "resumed from the checkpoint" in err
    assert_same_metrics(read_metrics(str(tmp_path)), reference)


# Stands in for srun on one machine: two tasks with the environment SLURM gives them.
_FAKE_SRUN = """#!/usr/bin/env bash
while [[ "$1" == --* ]]; do shift; done
pids=()
for i in 0 1; do
  SLURM_NTASKS=2 SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_JOB_ID=$FAKE_JOB_ID \\
  SLURM_STEP_NODELIST=localhost SLURM_STEP_NUM_NODES=1 \\
  XLA_FLAGS=--xla_force_host_platform_device_count=1 "$@" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc
"""


def test_slurm_script_under_a_stand_in_srun(tmp_path, env, digits_npz, reference):
    """launch/slurm.sbatch, with jax reading the coordinator and ranks from SLURM's variables."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(_FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    workdir = tmp_path / "run"
    # jax derives the coordinator port from the job id: pick an id whose port is free.
    port = _free_port_in_slurm_range()
    env = dict(
        env,
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        SLURM_SUBMIT_DIR=REPO,
        PYTHON=sys.executable,
        FAKE_JOB_ID=str(port - (65535 - 2**12 + 1)),
    )
    args = _main_args(workdir, digits_npz)
    config_and_dir = [args[1], args[3]]  # the script takes CONFIG WORKDIR, then overrides
    cmd = ["bash", os.path.join(REPO, "launch", "slurm.sbatch"), *config_and_dir, *args[4:]]
    code, err = _wait(_popen(cmd, env))
    assert code == 0, _summary(err)
    info = _run_info(workdir)
    assert (info["num_processes"], info["num_devices"]) == (2, 2)
    assert_same_metrics(read_metrics(str(workdir)), reference)


def _free_port_in_slurm_range() -> int:
    import socket

    first = 65535 - 2**12 + 1
    for port in np.random.default_rng().permutation(np.arange(first, 65536)):
        with socket.socket() as s:
            try:
                s.bind(("", int(port)))
            except OSError:
                continue
            return int(port)
    raise RuntimeError("no free port in SLURM's range")
