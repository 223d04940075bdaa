"""The accelerator check runs end to end on a CPU in its tiny mode (so it never rots)."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, cli_env


@pytest.mark.slow
def test_gpu_check_tiny_mode_writes_its_report(tmp_path):
    out = tmp_path / "check"
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "launch", "gpu_check.py"), "--tiny", "--out", str(out)],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out / "gpu_check.json") as f:
        report = json.load(f)
    assert report["devices"] and report["versions"]["jax"]
    for dtype in ("float32", "bfloat16"):
        r = report["throughput"][f"jax {dtype}"]
        assert r["train_images_per_s"] > 0 and r["scoring_images_per_s"] > 0
    assert set(report["methods"]) == {"random", "spl", "spl_inv", "spld", "advise", "lgl_r2"}
    assert report["methods"]["random"]["vs_random"] == 1.0
    assert all(r["loop_s"] > 0 for r in report["methods"].values())
    assert report["compilations"] > 0
    assert "| advise |" in (out / "gpu_check.md").read_text()
