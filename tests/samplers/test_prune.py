"""Static pruning: the kept set and its rounds, the scoring runs against slow references,
and the program's runs (scores computed once, saved, never repeated on resume)."""

import json
import os

import jax
import numpy as np
import optax
import pytest

import lgl_spl as L
from lgl_spl.train import loop as loop_module
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.experiment import build_experiment
from lgl_spl.train.loop import load_checkpoint
from tests.reliability import tiny
from tests.reliability.common import same_metrics

N, BATCH = 100, 10


def _sampler(**settings):
    labels = np.arange(N) % 5
    return L.build_sampler("prune", labels=labels, batch_size=BATCH, num_steps=40, **settings)


SCORES = np.random.default_rng(0).permutation(N).astype(np.float32)  # distinct


@pytest.mark.parametrize("keep", ["hardest", "easiest"])
def test_the_kept_set_is_chosen_once_and_every_round_trains_on_it(keep):
    s = _sampler(keep=keep, keep_fraction=0.3)
    state = s.init()
    assert s.needs(state, 0) == frozenset({"scores"})
    plan, state = s.plan(state, 0, scores=SCORES)
    order = np.argsort(-SCORES if keep == "hardest" else SCORES)
    want = set(order[:30].tolist())
    assert set(np.flatnonzero(state["kept"]).tolist()) == want
    for r in range(1, 4):
        assert s.needs(state, r) == frozenset()
        plan, state = s.plan(state, r)  # no scores needed again
        # budget "updates": random's round (10 steps, 100 real slots) cycling the kept 30
        assert plan.indices.shape == (10, BATCH) and plan.weights.sum() == N
        assert set(plan.indices[plan.weights > 0].tolist()) == want
        assert plan.info["pruned"] == 70 and plan.info["selected_fraction"] == 0.3


def test_budget_epochs_takes_one_pass_over_the_kept_set_per_round():
    s = _sampler(keep_fraction=0.35, budget="epochs")
    plan, state = s.plan(s.init(), 0, scores=SCORES)
    assert plan.indices.shape == (4, BATCH) and plan.weights.sum() == 35
    real = plan.indices[plan.weights > 0]
    assert sorted(real.tolist()) == sorted(np.flatnonzero(state["kept"]).tolist())
    assert plan.info["round_steps"] == 4


def test_stratified_keeps_coverage_centric_selection():
    s = _sampler(keep="stratified", keep_fraction=0.5, hard_prune=0.1, bins=5)
    _, state = s.plan(s.init(), 0, scores=SCORES)
    kept = np.flatnonzero(state["kept"])
    assert kept.size == 50
    assert not set(np.argsort(-SCORES)[:10].tolist()) & set(kept.tolist())  # hardest 10 % out
    counts = np.bincount(np.minimum((SCORES[kept] - 0) // (89 / 5 + 1e-9), 4).astype(int))
    assert counts.min() >= 8  # spread over the bins, not piled at one end


def test_missing_scores_are_one_line():
    s = _sampler()
    with pytest.raises(L.SignalError, match="scores"):
        s.plan(s.init(), 0)


# ---- the scoring runs ------------------------------------------------------------------


def _data(n=96, seed=0):
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))[:n]
    return (d.images[order, :, :, None] / 16.0).astype(np.float32), d.target[order].astype(np.int32)


def _scorer(score, copies=2, epochs=3, **more):
    x, y = _data()
    return L.build_prune_scores(
        x, y, score=score, model="lenet", width=0.25, num_classes=10, batch_size=32,
        score_models=copies, score_epochs=epochs, learning_rate=0.05, seed=3, **more,
    ), x, y  # fmt: skip


def test_forgetting_counts_equal_a_slow_count_of_every_presentation():
    scorer, x, y = _scorer("forgetting", copies=2, epochs=4)
    seen = []  # every step's (indices, train-mode correct, weights), in order
    train = scorer.steps.train

    def recording(*args):
        state, metrics = train(*args)
        seen.append(jax.device_get({k: metrics[k] for k in metrics if k.startswith("trained_")}))
        return state, metrics

    scorer.steps = scorer.steps._replace(train=recording)
    scores, facts = scorer.compute()
    per_copy = len(seen) // 2
    expected = []
    for copy in range(2):
        last, events, learned = {}, np.zeros(len(y)), np.zeros(len(y), bool)
        for m in seen[copy * per_copy : (copy + 1) * per_copy]:
            for i, c, w in zip(
                *(m[f"trained_{k}"] for k in ("indices", "correct", "weights")), strict=True
            ):
                if w == 0:
                    continue
                events[i] += last.get(int(i)) is True and not c
                last[int(i)] = bool(c)
                learned[i] |= bool(c)
        expected.append(np.where(learned, events, 4))
    np.testing.assert_allclose(scores, np.mean(expected, axis=0))
    presentations = 2 * 4 * len(y)
    assert facts["score_forward_passes"] == facts["score_backward_passes"] == presentations


def test_el2n_equals_a_numpy_recomputation_from_the_copies_logits():
    scorer, x, y = _scorer("el2n", copies=3, epochs=2)
    logits = []
    score = scorer.evaluator.score

    def keeping(*args, **kwargs):
        out = score(*args, **kwargs)
        logits.append(out.logits)
        return out

    scorer.evaluator.score = keeping
    scores, facts = scorer.compute()
    assert len(logits) == 3
    p = np.exp(np.asarray(logits, np.float64))
    p /= p.sum(-1, keepdims=True)
    ref = np.linalg.norm(p - np.eye(10)[y][None], axis=-1).mean(0)
    np.testing.assert_allclose(scores, ref, rtol=1e-4, atol=1e-6)
    assert facts["score_backward_passes"] == 3 * 2 * len(y)
    assert facts["score_forward_passes"] == 3 * 2 * len(y) + 3 * len(y)  # + a scoring pass each


def test_grand_equals_one_gradient_at_a_time():
    scorer, x, y = _scorer("grand", copies=2)
    scores, facts = scorer.compute()
    from lgl_spl.train.feeding import DeviceFeeder
    from lgl_spl.train.steps import model_variables

    feed = DeviceFeeder(x, y, scorer.mesh)
    ref = np.zeros(len(y))
    for copy in range(2):
        state = scorer._fresh(copy, feed)
        for i in range(len(y)):

            def loss(p, i=i, stats=state.batch_stats):
                variables = model_variables(p, stats)
                logits, _ = scorer.model.apply(variables, x[i : i + 1], train=False)
                return optax.softmax_cross_entropy_with_integer_labels(logits, y[i : i + 1])[0]

            g = jax.grad(loss)(state.params)
            ref[i] += np.sqrt(sum(float(np.sum(np.square(v))) for v in jax.tree.leaves(g))) / 2
    np.testing.assert_allclose(scores, ref, rtol=2e-4)
    assert facts["score_forward_passes"] == facts["score_backward_passes"] == 2 * len(y)


def test_random_scores_cost_nothing():
    scorer, _, y = _scorer("random")
    scores, facts = scorer.compute()
    assert facts["score_forward_passes"] == facts["score_backward_passes"] == 0
    assert scores.shape == (len(y),) and 0.3 < scores.mean() < 0.7


# ---- through the program -----------------------------------------------------------------


def test_a_run_scores_once_saves_the_scores_and_a_resumed_run_never_scores_again(
    tmp_path, monkeypatch
):
    c = tiny.get_config("prune")
    train_and_evaluate(c, str(tmp_path / "ref"))
    with np.load(tmp_path / "ref" / "scores.npz") as z:
        saved, per_copy = z["scores"], z["per_copy"]
        assert str(z["score"]) == "el2n" and per_copy.shape == (2, 320)
    np.testing.assert_allclose(saved, per_copy.mean(0), rtol=1e-6)
    rs, _ = load_checkpoint(build_experiment(c), str(tmp_path / "ref"))
    np.testing.assert_array_equal(rs.aux["prune_scores"]["scores"], saved)
    rows = [json.loads(line) for line in open(tmp_path / "ref" / "metrics.jsonl")]
    assert rows[-1]["extra_forward_passes"] == rows[-1]["score_forward_passes"] > 0
    assert rows[-1]["score_backward_passes"] == 2 * 2 * 320  # 2 copies × 2 passes

    run = str(tmp_path / "run")
    real_drain = loop_module._drain

    def crashing_drain(pending, rs, step, where):
        if step >= 40:  # after the checkpoint at step 30
            raise RuntimeError("crash")
        return real_drain(pending, rs, step, where)

    monkeypatch.setattr(loop_module, "_drain", crashing_drain)
    with pytest.raises(RuntimeError, match="crash"):
        train_and_evaluate(c, run)
    monkeypatch.undo()
    os.remove(os.path.join(run, "scores.npz"))
    train_and_evaluate(c, run)
    timing = json.load(open(os.path.join(run, "timing.json")))
    assert "prune_scores" not in timing  # the resumed process scored nothing
    with np.load(os.path.join(run, "scores.npz")) as z:  # written again from the checkpoint
        np.testing.assert_array_equal(z["scores"], saved)
    same_metrics(tmp_path / "ref", run)
