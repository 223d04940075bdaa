"""Online batch selection end to end: online_hard, online_easy and rho_loss.

The selectors themselves are checked against numpy in tests/core/test_step_selection.py;
here: the step's choice is global over the data mesh with per-example inputs, the
forward passes are counted exactly, the round records say what was trained on, the
irreducible losses are computed once and survive a crash, and bad settings are one line.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lgl_spl import configlib, parallel
from lgl_spl.core.step_selection import IRREDUCIBLE, highest_loss, lowest_loss, reducible_loss
from lgl_spl.data import AugmentSpec
from lgl_spl.errors import ConfigError
from lgl_spl.models import get_model
from lgl_spl.train import irreducible as irreducible_module
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.experiment import build_experiment
from lgl_spl.train.loop import load_checkpoint
from lgl_spl.train.state import create_train_state, make_optimizer, make_schedule
from lgl_spl.train.steps import StepBatch, make_steps
from tests.helpers import read_metrics, read_rows
from tests.reliability.common import (
    call_main,
    config,
    crash_at,
    error_lines,
    same_metrics,
)

BATCH = 16


def _steps(num_devices: int, selector, warmup_steps: int = 0):
    mesh = parallel.make_mesh(num_devices)
    cfg = configlib.base_config().train
    model = get_model("lenet", num_classes=10, width=0.5)
    tx = make_optimizer(cfg)
    spec = AugmentSpec((0.3,), (0.35,), crop_padding=1)
    steps = make_steps(model, tx, make_schedule(cfg), spec, mesh, selector=selector,
                       batch_size=BATCH, warmup_steps=warmup_steps)  # fmt: skip
    state = create_train_state(model, tx, jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    return mesh, steps, state


def _run_steps(num_devices, selector, *, warmup_steps=0, count=4, width=4 * BATCH):
    mesh, steps, state = _steps(num_devices, selector, warmup_steps)
    put = functools.partial(parallel.put_replicated, mesh=mesh)
    rng = np.random.default_rng(1)
    x = put(rng.integers(0, 256, (200, 8, 8, 1), dtype=np.uint8))
    y = put(rng.integers(0, 10, 200).astype(np.int32))
    per_example = {
        IRREDUCIBLE: put(rng.random(200).astype(np.float32) * 2),
        "noisy": put((rng.random(200) < 0.3).astype(np.float32)),
    }
    state, key, mask = put(state), put(jax.random.key(3)), put(np.ones(10, bool))
    rows = rng.integers(0, 200, (count, width)).astype(np.int32)
    weights = np.ones((count, width), np.float32)
    weights[-1, width // 2 :] = 0  # padding in the last row
    outs = []
    for row, w in zip(rows, weights, strict=True):
        batch = StepBatch(x, y, parallel.put_batch(row, mesh), parallel.put_batch(w, mesh))
        state, out = steps.train(state, batch, key, jnp.float32(0), mask, per_example)
        outs.append(jax.tree.map(np.asarray, out))
    return outs, rows, weights, np.asarray(per_example["noisy"]), np.asarray(y)


@pytest.mark.parametrize("selector", [highest_loss, lowest_loss, reducible_loss])
def test_two_devices_choose_what_one_does(selector):
    (one, rows, weights, noisy, y), (two, *_) = (_run_steps(n, selector) for n in (1, 2))
    for a, b, row, w in zip(one, two, rows, weights, strict=True):
        np.testing.assert_array_equal(a["selected"], b["selected"])
        np.testing.assert_array_equal(a["selected_per_class"], b["selected_per_class"])
        np.testing.assert_allclose(a["selected_loss"], b["selected_loss"], rtol=1e-5)
        # The records' sums are those of what was kept.
        kept = a["selected"]
        assert set(kept) <= set(row[w > 0])
        np.testing.assert_array_equal(a["selected_per_class"], np.bincount(y[kept], minlength=10))
        assert a["selected_noisy"] == pytest.approx(noisy[kept].sum())
        assert a["extra_forward"] == int((w > 0).sum())
        assert a["selected_loss"] <= a["candidate_loss"] + 1e-4  # a part of the sum
    # The choice spans every device's share of the candidates.
    halves = [
        np.isin(a["selected"], row[: 2 * BATCH]).mean() for a, row in zip(one, rows, strict=True)
    ]
    assert any(0 < h < 1 for h in halves), halves


def test_a_warm_up_step_scores_nothing_and_keeps_the_first_candidates():
    outs, rows, _, _, _ = _run_steps(2, highest_loss, warmup_steps=2)
    for i, out in enumerate(outs):
        if i < 2:
            np.testing.assert_array_equal(out["selected"], rows[i, :BATCH])
            assert out["extra_forward"] == 0 and out["candidate_loss"] == 0
        else:
            assert out["extra_forward"] > 0
            assert not np.array_equal(out["selected"], rows[i, :BATCH])


def test_forward_passes_and_round_records(tmp_path):
    """Candidates are counted step by step after the warm-up; RHO-LOSS adds the IL model's
    training and its pass over the training set, exactly."""
    for name in ("online_hard", "rho_loss"):
        workdir = tmp_path / name
        train_and_evaluate(config(name), str(workdir))
        rows = read_metrics(str(workdir))
        rounds = read_rows(str(workdir), "rounds.jsonl")
        spr = rounds[0]["step"]  # one round of warm-up, then selection
        n = 320  # rho_loss's default: two IL models on the halves, the student on all
        assert spr == -(-n // 32)
        il = 0
        if name == "rho_loss":
            assert rows[-1]["il_backward_passes"] == 2 * n  # 2 epochs of each half
            il = 2 * n + n
            assert rows[-1]["il_forward_passes"] == il
        for r in rows:
            assert r["scoring_forward_passes"] == 96 * max(r["step"] - spr, 0)
            assert r["extra_forward_passes"] == r["scoring_forward_passes"] + il
        assert rounds[0]["warmup"] and rounds[0]["selected_loss"] is None
        for r in rounds:
            assert sum(r["selected_per_class"]) == 32 * (r["step"] - r["first_step"])
        for r in rounds[1:]:
            assert not r["warmup"] and r["selected_fraction"] == pytest.approx(32 / 96)
            # Hard-example selection: what it trains on is harder than the candidates.
            if name == "online_hard":
                assert r["selected_loss"] > r["candidate_loss"]


def test_with_label_noise_hard_selection_trains_on_flipped_labels_and_easy_avoids_them(tmp_path):
    shares = {}
    for name in ("online_hard", "online_easy"):
        c = config(name)
        c.data.label_noise = 0.4
        train_and_evaluate(c, str(tmp_path / name))
        rounds = read_rows(str(tmp_path / name), "rounds.jsonl")
        assert all(r["noisy_fraction"] == pytest.approx(0.4) for r in rounds)
        shares[name] = [r["noisy_selected_fraction"] for r in rounds[1:]]  # after the warm-up
    assert min(shares["online_hard"]) > 0.4 > max(shares["online_easy"]), shares


def test_irreducible_losses_are_computed_once_and_a_crash_resumes_exactly(tmp_path, monkeypatch):
    ref, run = tmp_path / "ref", tmp_path / "run"
    train_and_evaluate(config("rho_loss"), str(ref))
    crash_at(monkeypatch, 27, config("rho_loss", checkpoint_every=10), run)

    def never(self):
        raise AssertionError("the irreducible-loss model was trained again")

    monkeypatch.setattr(irreducible_module.IrreducibleLoss, "_compute", never)
    train_and_evaluate(config("rho_loss", checkpoint_every=10), str(run))
    same_metrics(run, ref)
    exp = build_experiment(config("rho_loss"))
    (a, _), (b, _) = (load_checkpoint(exp, str(d)) for d in (ref, run))
    losses = np.asarray(a.aux["irreducible"]["losses"])
    np.testing.assert_array_equal(losses, np.asarray(b.aux["irreducible"]["losses"]))
    assert losses.shape == (320,) and np.all(losses > 0)


def test_a_holdout_leaves_the_training_set_and_is_counted(tmp_path):
    c = config("rho_loss")
    c.method.il_data = "holdout"  # a quarter of the 320 tiny examples
    c.train.num_steps = 12
    train_and_evaluate(c, str(tmp_path))
    row = read_metrics(str(tmp_path))[-1]
    assert row["il_backward_passes"] == 2 * 80  # 2 epochs of the holdout
    assert row["il_forward_passes"] == 2 * 80 + 240  # and one pass over the 240 left
    assert read_rows(str(tmp_path), "rounds.jsonl")[0]["step"] == -(-240 // 32)


def test_a_clean_holdout_without_a_holdout_is_refused():
    from lgl_spl.data import Dataset
    from lgl_spl.train.irreducible import carve_holdout

    c = config("rho_loss")
    c.method.clean_holdout = True
    ds = Dataset(*(np.zeros(0),) * 6, num_classes=10, label_names=(), name="x")
    with pytest.raises(ConfigError, match="add --config.method.il_data=holdout"):
        carve_holdout(c, ds)


@pytest.mark.parametrize(
    "name, setting, message",
    [
        (
            "online_hard",
            "--config.method.candidates=16",
            "error: a step's candidates (16) must be at least train.batch_size (32)",
        ),
        (
            "rho_loss",
            ("--config.method.il_data=holdout", "--config.method.holdout_fraction=0.02"),
            "error: method.holdout_fraction 0.02 carves a holdout of 6 examples with no "
            "example of class(es)",
        ),
    ],
)
def test_bad_settings_are_one_line(tmp_path, monkeypatch, capsys, name, setting, message):
    code, stderr, _ = call_main(
        monkeypatch, capsys, "--config", f"tests/reliability/tiny.py:{name}",
        "--workdir", str(tmp_path), *([setting] if isinstance(setting, str) else setting),
    )  # fmt: skip
    assert code == 2
    (line,) = error_lines(stderr)
    assert line.startswith(message), line


def test_rho_loss_refuses_a_streamed_dataset():
    from lgl_spl.data import Dataset
    from lgl_spl.train.irreducible import carve_holdout

    c = config("rho_loss")
    ds = Dataset(*(np.zeros(0),) * 6, num_classes=10, label_names=(), name="x", train_source=1)
    with pytest.raises(ConfigError, match="needs an in-memory dataset"):
        carve_holdout(c, ds)
