"""Start-up: a run imports only what it uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from tests.helpers import REPO, cli_env

# Used only by other paths (paper datasets, host decoding, reports, t-SNE).
_NOT_FOR_DIGITS = (
    "sklearn",
    "tensorflow_datasets",
    "tensorflow",
    "grain",
    "array_record",
    "matplotlib",
    "scipy",
    "pandas",
    "torch",
    "lgl_spl.report",
)

_RUN = """
import json, sys
import lgl_spl.main
after_main = sorted(sys.modules)
from lgl_spl.train import train_and_evaluate
after_train = sorted(sys.modules)
from tests.reliability.tiny import get_config
c = get_config("random")
c.train.num_steps = 4
c.train.eval_every = 4
train_and_evaluate(c, sys.argv[1])
print(json.dumps({"main": after_main, "train": after_train, "run": sorted(sys.modules)}))
"""


def test_digits_run_imports_only_what_it_uses(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(tmp_path / "run")],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    modules = json.loads(out.stdout.strip().splitlines()[-1])

    def imported(names, prefix):
        return [n for n in names if n == prefix or n.startswith(prefix + ".")]

    for name in _NOT_FOR_DIGITS:
        assert not imported(modules["run"], name), f"a digits run imported {name}"
    for name in ("jax", "orbax", "tensorboardX", "flax"):  # flags first, then jax
        assert not imported(modules["main"], name), f"import lgl_spl.main imported {name}"
    # made when first used, after the first step
    assert not imported(modules["train"], "tensorboardX"), "lgl_spl.train imported tensorboardX"
    assert imported(modules["run"], "tensorboardX"), "the run wrote no TensorBoard scalars"
    assert not imported(modules["run"], "torch")  # not even through tensorboardX


def test_digits_read_without_scikit_learn_match_its_loader():
    from sklearn.datasets import load_digits

    from lgl_spl.data.sources import _digits_arrays

    images, target = _digits_arrays()
    d = load_digits()
    np.testing.assert_array_equal(images, d.images)
    np.testing.assert_array_equal(target, d.target)
    assert images.dtype == d.images.dtype


def test_tensorboard_writer_is_made_with_the_first_scalars(tmp_path):
    from lgl_spl.train.writers import Writers

    follower = Writers(str(tmp_path / "f"), resume_step=0, enabled=False)
    assert follower.tensorboard_dir is None
    follower.scalars(1, {"loss": 1.0})
    follower.close()
    os.makedirs(tmp_path / "l")
    leader = Writers(str(tmp_path / "l"), resume_step=0)
    assert not (tmp_path / "l" / "tensorboard").exists()
    leader.scalars(1, {"loss": 1.0})
    assert leader.tensorboard_dir == str(tmp_path / "l" / "tensorboard")
    assert os.listdir(leader.tensorboard_dir)
    leader.close()
