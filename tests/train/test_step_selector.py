"""The step-level selector: candidates scored inside the jitted step, some of them trained on.

Its methods (online batch selection) come later; here test selectors prove the plug
point: keeping the first half trains exactly what the plain step trains, a loss-ranked
choice is global over the data mesh (two devices choose what one does), and a whole run
with a selector counts its candidates' forward passes and resumes exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lgl_spl import configlib, parallel
from lgl_spl.core.step_selection import Candidates, keep_first, lowest_scores
from lgl_spl.data import AugmentSpec
from lgl_spl.errors import ConfigError
from lgl_spl.models import get_model
from lgl_spl.samplers import StepSelector, registry, uniform
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.state import create_train_state, make_optimizer, make_schedule
from lgl_spl.train.steps import StepBatch, make_steps
from tests.helpers import read_metrics, read_rows, tiny_digits

BATCH = 16
SELECTION = ("selected_per_class", "selected_loss", "candidate_loss")


def lowest_loss(candidates: Candidates, k: int) -> jax.Array:
    return lowest_scores(candidates.losses, candidates.weights, k)


def test_lowest_scores_matches_a_stable_numpy_sort_with_padding_last():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 64).astype(np.float32)  # many ties
    weights = (rng.random(64) > 0.2).astype(np.float32)
    got = np.asarray(jax.jit(lowest_scores, static_argnums=2)(scores, weights, 40))
    keyed = np.where(weights > 0, scores, np.inf)
    np.testing.assert_array_equal(got, np.argsort(keyed, kind="stable")[:40])
    assert weights[got[: int(weights.sum())]].all()  # real candidates before any padding


def _setup(num_devices: int, selector=None):
    mesh = parallel.make_mesh(num_devices)
    cfg = configlib.base_config().train
    model = get_model("lenet", num_classes=10, width=0.5)
    tx = make_optimizer(cfg)
    spec = AugmentSpec((0.3,), (0.35,), crop_padding=1)  # augmentation keyed by the step
    steps = make_steps(model, tx, make_schedule(cfg), spec, mesh, selector=selector,
                       batch_size=BATCH)  # fmt: skip
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (200, 8, 8, 1), dtype=np.uint8)
    y = rng.integers(0, 10, 200).astype(np.int32)
    sample = jnp.zeros((1, 8, 8, 1), jnp.float32)
    state = create_train_state(model, tx, jax.random.key(0), sample)
    put = functools.partial(parallel.put_replicated, mesh=mesh)
    return mesh, steps, put(state), put(jnp.asarray(x)), put(jnp.asarray(y)), put


def _run(mesh, steps, state, x, y, put, rows, weights):
    key, mask = put(jax.random.key(3)), put(np.ones(10, bool))
    outs = []
    for row, w in zip(rows, weights, strict=True):
        batch = StepBatch(x, y, parallel.put_batch(row, mesh), parallel.put_batch(w, mesh))
        state, out = steps.train(state, batch, key, jnp.float32(0), mask, {})
        outs.append(jax.tree.map(np.asarray, out))
    return state, outs


def _rows(count: int, width: int):
    rng = np.random.default_rng(2)
    rows = rng.integers(0, 200, (count, width)).astype(np.int32)
    weights = np.ones((count, width), np.float32)
    weights[-1, width // 2 + 3 :] = 0  # padding in the second half of the last row
    return rows, weights


def test_keeping_the_first_half_trains_exactly_what_the_plain_step_trains():
    rows, weights = _rows(3, 2 * BATCH)
    plain = _setup(2)
    ref, ref_out = _run(*plain, rows[:, :BATCH], weights[:, :BATCH])
    chosen = _setup(2, selector=keep_first)
    got, out = _run(*chosen, rows, weights)
    for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for o, r, row, w in zip(out, ref_out, rows, weights, strict=True):
        assert o["loss"] == r["loss"] and o["weight"] == r["weight"]
        np.testing.assert_array_equal(o["selected"], row[:BATCH])
        assert o["extra_forward"] == int((w > 0).sum())  # every real candidate scored
    assert set(ref_out[0]) == {"loss", "weight", "lr"}  # no selector: the step as before


def test_a_loss_ranked_choice_is_global_over_the_data_mesh():
    rows, weights = _rows(3, 4 * BATCH)
    (_, one), (_, two) = (_run(*_setup(n, selector=lowest_loss), rows, weights) for n in (1, 2))
    for a, b, row, w in zip(one, two, rows, weights, strict=True):
        np.testing.assert_array_equal(a["selected"], b["selected"])
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
        assert set(a["selected"]) <= set(row[w > 0])  # never a padding slot
    # Not simply each device's own half: the choice spans both halves of the candidates.
    halves = [
        np.isin(a["selected"], row[: 2 * BATCH]).mean() for a, row in zip(one, rows, strict=True)
    ]
    assert all(0 < h < 1 for h in halves), halves


class _Doubled(uniform.RandomSampler):
    """``random``'s plan, each row followed by the same row reversed: 2 × batch candidates."""

    def plan_round(self, state, round_index, signals):
        plan, state = super().plan_round(state, round_index, signals)
        cat = lambda a: np.concatenate([a, a[:, ::-1]], axis=1)
        return dataclasses.replace(
            plan, indices=cat(plan.indices), weights=cat(plan.weights)
        ), state


@pytest.fixture
def first_half_method(monkeypatch):
    """A method that hands each step 2 × batch candidates and keeps the first half."""

    def selector(cfg, ctx):
        return StepSelector(select=keep_first, candidates=2 * ctx.batch_size)

    method = registry.Method("first_half", _Doubled, {}, step_selector=selector)
    monkeypatch.setitem(registry.METHODS, "first_half", method)
    return "first_half"


def test_a_run_with_a_selector_trains_like_its_first_half_and_counts_the_candidates(
    tmp_path, first_half_method
):
    ref_dir, run_dir = tmp_path / "random", tmp_path / "first_half"
    train_and_evaluate(tiny_digits(), str(ref_dir))
    c = configlib.set_method(tiny_digits(checkpoint_every=10), first_half_method)
    train_and_evaluate(c, str(run_dir))
    # The forward-pass counts and the selection's own record (what was trained on).
    counts = ("scoring_forward_passes", "extra_forward_passes", *SELECTION)
    ref, got = read_metrics(str(ref_dir)), read_metrics(str(run_dir))
    strip = lambda rows: [{k: v for k, v in r.items() if k not in counts} for r in rows]
    assert strip(got) == strip(ref)  # the same updates, bit for bit
    # Every step scored its 2 × 32 candidates (the last rows of a round: padding uncounted).
    assert all(r["extra_forward_passes"] > 2 * 32 * (r["step"] - 1) for r in got)
    assert all(r["extra_forward_passes"] <= 2 * 32 * r["step"] for r in got)
    assert [r["scoring_forward_passes"] for r in ref] == [0] * len(ref)
    no_time = lambda d: [
        {k: v for k, v in r.items() if k not in ("time", *SELECTION)}
        for r in read_rows(d, "rounds.jsonl")
    ]
    assert no_time(str(run_dir)) == no_time(str(ref_dir))
    # What was trained on is random's round, every training example once: the per-class
    # counts sum to N; the candidates are the same row twice, so the kept candidates'
    # mean eval loss is all candidates'.
    num_train = json.loads((run_dir / "run_info.json").read_text())["num_train"]
    for row in read_rows(str(run_dir), "rounds.jsonl"):
        if row["step"] - row["first_step"] == 45:  # a whole round
            assert sum(row["selected_per_class"]) == num_train
        assert row["selected_loss"] == pytest.approx(row["candidate_loss"], rel=1e-5)

    # Resumed mid-round (the plan is 2 × batch wide), the files are the same.
    shutil.rmtree(run_dir / "checkpoints" / "60")  # resumes at step 50, in round 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()) == ["50"]
    assert train_and_evaluate(c, str(run_dir))["step"] == 60
    assert read_metrics(str(run_dir)) == got


def test_candidates_fewer_than_the_batch_are_refused(tmp_path, monkeypatch):
    def selector(cfg, ctx):
        return StepSelector(select=keep_first, candidates=ctx.batch_size // 2)

    method = registry.Method("too_few", uniform.RandomSampler, {}, step_selector=selector)
    monkeypatch.setitem(registry.METHODS, "too_few", method)
    with pytest.raises(ConfigError, match="candidates .16. must be at least train.batch_size"):
        train_and_evaluate(configlib.set_method(tiny_digits(), "too_few"), str(tmp_path))


def test_a_plan_of_the_wrong_width_is_named(tmp_path, first_half_method, monkeypatch):
    monkeypatch.setattr(_Doubled, "plan_round", uniform.RandomSampler.plan_round)
    c = configlib.set_method(tiny_digits(), first_half_method)
    with pytest.raises(
        ConfigError,
        match=r"method 'first_half' breaks the sampler protocol at round 0: its plan's indices "
        r"have shape \[45, 32\], the steps need \[45, 64\]",
    ):
        train_and_evaluate(c, str(tmp_path))
