"""examples/own_loop_nnx.py: a plain Flax NNX loop (nnx.Optimizer) drives spl and spld."""

from tests.examples.test_own_loop import _example


def test_own_nnx_loop_trains_with_spl_and_spld(capsys):
    results = _example("own_loop_nnx").main(["--rounds", "4", "--num_train", "600"])
    assert set(results) == {"spl", "spld"}
    for method, r in results.items():
        assert r["test_accuracy"] > 0.4, (method, r)  # chance is 0.1
        fractions = r["selected_fraction"]  # warm-up on all data, then the pace selects
        assert len(fractions) == 4 and fractions[0] == 1.0, method
        assert all(0.4 < f < 0.8 for f in fractions[1:]), method
    spl = results["spl"]["selected_fraction"]
    assert spl[1] < spl[2] < spl[3]  # SPL's pace grows q by β1 a round
    assert "spld  test accuracy" in capsys.readouterr().out
