"""launch/multiprocess.py without training: per-process environment, argument checks, exit codes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

_spec = importlib.util.spec_from_file_location(
    "multiprocess", os.path.join(REPO, "launch", "multiprocess.py")
)
multiprocess = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(multiprocess)


def test_process_env_sets_what_parallel_reads():
    base = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --xla_dump_to=/tmp/x"}
    env = multiprocess.process_env(
        base, coordinator="localhost:1234", num_processes=4, process_id=3, cpu_devices=2
    )
    assert env["JAX_COORDINATOR_ADDRESS"] == "localhost:1234"
    assert (env["JAX_NUM_PROCESSES"], env["JAX_PROCESS_ID"]) == ("4", "3")
    assert env["JAX_CPU_COLLECTIVES_IMPLEMENTATION"] == "gloo"
    flags = env["XLA_FLAGS"].split()
    assert flags == ["--xla_dump_to=/tmp/x", "--xla_force_host_platform_device_count=2"]
    assert base["XLA_FLAGS"].startswith("--xla_force")  # the caller's dict is untouched


def test_free_port_can_be_bound():
    import socket

    port = multiprocess.free_port()
    with socket.socket() as s:
        s.bind(("", port))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--num_processes=2"], "after '--'"),
        (["--num_processes=2", "--local_processes=1", "--", "x"], "--coordinator"),
        (["--num_processes=2", "--first_process_id=2", "--", "x"], "exceeds"),
    ],
)
def test_bad_launcher_arguments(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        multiprocess.launch(args)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_failing_process_fails_the_launch(tmp_path):
    """Both processes stop on a bad config before training; its exit code comes back."""
    cmd = [
        sys.executable,
        os.path.join(REPO, "launch", "multiprocess.py"),
        "--num_processes=2",
        "--timeout=120",
        "--",
        "--config",
        os.path.join(REPO, "configs", "digits_random.py"),
        "--workdir",
        str(tmp_path),
        "--config.method.name=foo",
    ]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    assert result.stderr.count("error: unknown method 'foo'") == 2
