"""The side-by-side benchmark runs end to end (a few steps of each kind) and reports ratios."""

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.slow
def test_sidebyside_reports_every_kind(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    out = subprocess.run(
        [sys.executable, "launch/bench_sidebyside.py", "--repeats", "1", "--steps", "6"]
        + ["--core", "-1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    kinds = ["project cold", "plain JAX cold", "project warm", "plain JAX warm"]
    if importlib.util.find_spec("torch") is not None:
        kinds.append("PyTorch")
    else:
        assert "PyTorch is not installed" in text
    for kind in kinds:
        assert f"\n{kind} | " in text, text
    assert "project warm / cold, whole process:" in text
    assert not (tmp_path / "xdg").exists()  # each kind used its own cache directory
