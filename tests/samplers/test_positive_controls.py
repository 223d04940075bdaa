"""Positive controls: each schedule visibly does its job on a problem where it must.

- SPL with planted label noise: after the warm-up, the examples it trains on hold far fewer
  flipped labels than the data (this fails if scores and example indices are misaligned).
- SPL-ADVisE's embedding learns: its k-NN accuracy on held-out examples rises well above
  its value at initialisation.
"""

import os

import numpy as np
import pytest

from lgl_spl.configlib import set_method
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.experiment import build_experiment
from tests.helpers import read_metrics, read_rows, tiny_digits

NOISE = 0.4


def test_spl_trains_on_far_cleaner_examples_than_the_data(tmp_path):
    c = set_method(tiny_digits(num_steps=180, eval_every=90, lr_decay_steps=180), "spl")
    c.data.label_noise = NOISE
    train_and_evaluate(c, str(tmp_path))
    rounds = read_rows(str(tmp_path), "rounds.jsonl")
    assert [r["round"] for r in rounds] == [0, 1, 2, 3]  # 4 rounds of 45 steps
    with np.load(os.path.join(tmp_path, "label_noise.npz")) as z:
        noisy = z["noisy"]
        assert noisy.sum() == round(NOISE * len(noisy))
        np.testing.assert_array_equal(noisy, z["labels"] != z["clean_labels"])
    for r in rounds:
        assert r["noisy_fraction"] == pytest.approx(noisy.mean())
    assert rounds[0]["noisy_selected_fraction"] == pytest.approx(noisy.mean())  # warm-up
    for r in rounds[1:]:  # the easy half (then 55 %, 60 %): mostly clean labels
        assert r["selected_fraction"] < 0.65
        assert r["noisy_selected_fraction"] < 0.5 * r["noisy_fraction"], r


def test_random_trains_on_the_data_as_it_is(tmp_path):
    """The control's control: uniform sampling sees the data's noise share every round."""
    c = tiny_digits(num_steps=90, eval_every=90, lr_decay_steps=90)
    c.data.label_noise = NOISE
    train_and_evaluate(c, str(tmp_path))
    for r in read_rows(str(tmp_path), "rounds.jsonl"):
        assert r["noisy_selected_fraction"] == pytest.approx(r["noisy_fraction"])


def test_capped_spl_stays_under_its_cap_through_the_loop(tmp_path):
    c = set_method(
        tiny_digits(num_steps=270, eval_every=135, lr_decay_steps=270),
        "spl",
        q0=0.5,
        beta1=0.5,
        max_fraction=0.6,
    )
    c.data.label_noise = NOISE
    train_and_evaluate(c, str(tmp_path))
    fractions = [r["selected_fraction"] for r in read_rows(str(tmp_path), "rounds.jsonl")]
    assert fractions[0] == 1.0  # the warm-up round trains on everything
    assert all(f <= 0.6 for f in fractions[1:]) and max(fractions[1:]) > 0.59, fractions


@pytest.mark.slow
def test_advise_embedding_knn_rises_well_above_its_initial_value(tmp_path):
    c = set_method(
        tiny_digits(num_steps=300, eval_every=150, lr_decay_steps=300),
        "advise",
        num_clusters=4,
        embed_steps=300,
        refresh_every=100,
        embed_lr=1e-3,
        embed_width=0.5,
        embed_dim=16,
        snapshot_examples=0,
    )
    exp = build_experiment(c)
    learner = exp.auxiliary("embedding").learner
    initial = learner.knn_accuracy(learner.init())
    pixels = learner.pixel_knn_accuracy()
    train_and_evaluate(c, str(tmp_path))
    rows = read_metrics(str(tmp_path))
    assert all(r["pixel_knn_accuracy"] == pytest.approx(pixels) for r in rows)
    learned = rows[-1]["embed_knn_accuracy"]
    assert learned > initial + 0.08, (initial, learned, pixels)
    # Steps owed for the last round would only serve a round that never comes.
    assert rows[-1]["embed_steps"] == 6 * 45 and rows[-1]["embed_loss"] is not None
