"""Determinism: the same seed gives the same run; 1 and 2 devices make the same selections.

Related existing test: tests/train/test_engine.py::test_one_and_two_devices_agree
(losses agree to rtol 2e-4 for ``random``).
"""

import numpy as np
import pytest

from lgl_spl.train import loop as loop_module
from lgl_spl.train import train_and_evaluate
from tests.helpers import read_metrics
from tests.reliability.common import config, same_metrics
from tests.reliability.tiny import EVAL_EVERY


def _run_recording_plans(monkeypatch, workdir, c) -> list[tuple[int, np.ndarray, dict]]:
    """Train ``c``; return every round's (index, plan indices, plan info)."""
    plans = []
    real = loop_module.start_round

    def start_round(exp, rs, round_index, **kwargs):
        real(exp, rs, round_index, **kwargs)
        plans.append((round_index, rs.plan.indices.copy(), dict(rs.plan.info)))

    monkeypatch.setattr(loop_module, "start_round", start_round)
    train_and_evaluate(c, str(workdir))
    monkeypatch.undo()
    return plans


@pytest.mark.slow
def test_same_seed_same_run_and_same_selections_on_one_or_two_devices(tmp_path, monkeypatch):
    """spld (scoring, k-means groups, selection): two runs with one seed give identical
    metrics.jsonl and plans; on one device instead of two, the same selected examples in
    the same order every round (the losses that pick them agree to float rounding; see
    docs/reliability.md for what is not promised). Another seed gives another run."""
    two_a = _run_recording_plans(monkeypatch, tmp_path / "a", config("spld"))
    two_b = _run_recording_plans(monkeypatch, tmp_path / "b", config("spld"))
    same_metrics(tmp_path / "a", tmp_path / "b")
    one = _run_recording_plans(monkeypatch, tmp_path / "one", config("spld", num_devices=1))
    assert len(one) == len(two_a) == 6
    for (r, a, info_a), (_, b, _), (_, c, info_c) in zip(two_a, two_b, one, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c, err_msg=f"round {r}: 1 and 2 devices differ")
        for key in ("selected_fraction", "selected_per_class", "clusters_represented"):
            assert info_a.get(key) == info_c.get(key)
    rows_two, rows_one = read_metrics(str(tmp_path / "a")), read_metrics(str(tmp_path / "one"))
    for ra, rc in zip(rows_two, rows_one, strict=True):
        np.testing.assert_allclose(ra["train_loss"], rc["train_loss"], rtol=1e-4)
        np.testing.assert_allclose(ra["test_accuracy"], rc["test_accuracy"], atol=1 / 359 + 1e-9)

    other = config("spld", num_steps=EVAL_EVERY)
    other.seed = 1
    train_and_evaluate(other, str(tmp_path / "seed1"))
    assert read_metrics(str(tmp_path / "seed1"))[0]["train_loss"] != rows_two[0]["train_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["prune", "superloss", "infobatch"])
def test_one_and_two_devices_make_the_same_run_for_the_pruning_and_reweighting_methods(
    tmp_path, monkeypatch, name
):
    """The scores that pick what static or dynamic pruning keeps, and SuperLoss's running
    threshold, are computed over the data mesh: one device plans what two do, and the
    losses agree to float rounding."""
    two = _run_recording_plans(monkeypatch, tmp_path / "two", config(name))
    one = _run_recording_plans(monkeypatch, tmp_path / "one", config(name, num_devices=1))
    assert len(one) == len(two)
    for (r, a, info_a), (_, c, info_c) in zip(two, one, strict=True):
        np.testing.assert_array_equal(a, c, err_msg=f"{name} round {r}: 1 and 2 devices differ")
        for key in ("selected_fraction", "selected_per_class", "pruned", "round_steps"):
            assert info_a.get(key) == info_c.get(key)
    rows_two, rows_one = read_metrics(str(tmp_path / "two")), read_metrics(str(tmp_path / "one"))
    for ra, rc in zip(rows_two, rows_one, strict=True):
        np.testing.assert_allclose(ra["train_loss"], rc["train_loss"], rtol=1e-4)
