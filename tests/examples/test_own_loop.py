"""examples/own_loop.py: a plain Flax + optax loop drives every method of the package."""

import importlib.util
import os
import sys

import lgl_spl as L
from tests.helpers import REPO


def _example(name: str):
    path = os.path.join(REPO, "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Flax modules are dataclasses: their module must be known
    spec.loader.exec_module(module)
    return module


def test_own_loop_trains_with_every_method(capsys):
    results = _example("own_loop").main(["--methods", "all", "--rounds", "4", "--num_train", "600"])
    assert tuple(results) == L.BUILT_IN  # every method of the package, none forgotten
    for method, r in results.items():
        # Chance is 0.1; small-loss selection (online_easy) learns least, as in our controls.
        assert r["test_accuracy"] > (0.2 if method == "online_easy" else 0.4), (method, r)
        assert len(r["selected_fraction"]) == 4
    for method in ("online_hard", "online_easy", "rho_loss"):  # 64 of 256 candidates a step
        assert results[method]["selected_fraction"] == [1.0, 0.25, 0.25, 0.25], method
    for method in ("spl", "spld", "advise"):  # warm-up on all data, then the pace selects
        fractions = results[method]["selected_fraction"]
        assert fractions[0] == 1.0 and all(0.4 < f < 0.8 for f in fractions[1:]), method
    spl = results["spl"]["selected_fraction"]
    assert spl[1] < spl[2] < spl[3]  # SPL's pace grows q by β1 a round
    assert results["lgl"]["selected_fraction"][0] < 0.7  # the first stage: half the classes
    assert results["lgl"]["selected_fraction"][-1] == 1.0
    # InfoBatch prunes from what the steps trained on (without it every loss stays tied and
    # nothing is pruned); SuperLoss's step minimises its reshaped loss, not cross-entropy.
    assert all(f < 0.9 for f in results["infobatch"]["selected_fraction"][1:3])
    assert results["superloss"]["last_loss"] != results["random"]["last_loss"]
    assert "advise      test accuracy" in capsys.readouterr().out
