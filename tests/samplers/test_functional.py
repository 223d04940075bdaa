"""The public sampler API: built from plain arguments, driven from any loop, strict on signals."""

import re

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lgl_spl as L
from lgl_spl import configlib, core
from lgl_spl.errors import ConfigError, SignalError
from lgl_spl.samplers import SamplerContext, make_sampler

N, C, BATCH, STEPS = 120, 4, 16, 64
LABELS = np.arange(N) % C


def _ctx():
    return SamplerContext(
        num_examples=N, num_classes=C, batch_size=BATCH, seed=3, num_steps=STEPS, labels=LABELS
    )


def _drive(sampler_plan, needs, init, rounds, signals_for):
    state, plans = init(), []
    for r in range(rounds):
        plan, state = sampler_plan(state, r, signals_for(needs(state, r), r))
        plans.append(plan)
    return plans


def _signals(wanted, r):
    rng = np.random.default_rng(r)
    if not wanted:
        return None
    logits = rng.normal(size=(N, C)).astype(np.float32)
    return L.Signals(
        losses=rng.gamma(2.0, size=N).astype(np.float32) if "losses" in wanted else None,
        logits=logits if "class_entropies" in wanted else None,
        features=rng.normal(size=(N, 5)).astype(np.float32) if "features" in wanted else None,
        labels=LABELS.astype(np.int32),
    )


@pytest.mark.parametrize(
    "method,settings",
    [
        ("spl", {}),
        ("spl_inv", {"q0": 0.3}),
        ("spld", {"num_clusters": 3}),
        ("lgl", {"order": "dissimilar", "num_stages": 2}),
    ],
)
def test_built_from_plain_arguments_plans_what_the_loop_sampler_plans(method, settings):
    mine = L.build_sampler(
        method, labels=LABELS, batch_size=BATCH, num_steps=STEPS, seed=3, **settings
    )
    cfg = configlib.set_method(configlib.base_config(), method, **settings).method
    loops = make_sampler(cfg, _ctx())
    assert mine.num_rounds == _ctx().num_rounds == 8 and mine.steps_per_round == 8
    a = _drive(mine.plan, mine.needs, mine.init, mine.num_rounds, _signals)
    b = _drive(loops.plan_round, loops.needs_signals, loops.init, mine.num_rounds, _signals)
    for pa, pb in zip(a, b, strict=True):
        np.testing.assert_array_equal(pa.indices, pb.indices)
        np.testing.assert_array_equal(pa.weights, pb.weights)
        np.testing.assert_array_equal(pa.class_mask, pb.class_mask)
        assert pa.schedule_start == pb.schedule_start
    assert any(p.info["selected_fraction"] < 1 for p in a)  # the method really selected


def test_a_config_block_is_accepted_and_settings_override_it():
    block = configlib.set_method(configlib.base_config(), "spl", q0=0.2).method
    s = L.build_sampler(block, labels=LABELS, batch_size=BATCH, num_steps=STEPS, beta1=0.3)
    assert s.name == "spl" and s.settings.q0 == 0.2 and s.settings.beta1 == 0.3


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"q00": 0.1}, "did you mean 'q0'"),
        ({"q0": 2.0}, "method.q0"),
        ({"labels": np.array([[0, 1]])}, "1-D integer"),
        ({"labels": np.array([0, 5]), "num_classes": 3}, "labels must lie in [0, 3)"),
        ({"batch_size": 0}, "must be positive"),
    ],
)
def test_bad_arguments_are_one_clear_line(kwargs, message):
    args = {"labels": LABELS, "batch_size": BATCH, "num_steps": STEPS, **kwargs}
    with pytest.raises(ConfigError, match=re.escape(message)):
        L.build_sampler("spl", **args)
    with pytest.raises(ConfigError, match="unknown method"):
        L.build_sampler("spx", labels=LABELS, batch_size=BATCH, num_steps=STEPS)


def test_missing_or_misshapen_signals_are_refused():
    spl = L.build_sampler("spl", labels=LABELS, batch_size=BATCH, num_steps=STEPS)
    state = spl.init()
    _, state = spl.plan(state, 0)  # the warm-up round needs nothing
    assert spl.needs(state, 1) == {"losses"}
    with pytest.raises(SignalError, match="spl round 1 needs the signals losses"):
        spl.plan(state, 1)
    with pytest.raises(SignalError, match=r"'losses' must have shape \[120\]"):
        spl.plan(state, 1, losses=np.ones(N - 1))
    with pytest.raises(ConfigError, match="unknown signals loss"):
        spl.plan(state, 1, loss=np.ones(N))
    spl.plan(state, 1, losses=jnp.ones(N))  # jax arrays are fine

    lgl = L.build_sampler(
        "lgl", labels=LABELS, batch_size=BATCH, num_steps=STEPS, num_stages=2, order="similar"
    )
    state = lgl.init()
    _, state = lgl.plan(state, 0)
    choosing = lgl.sampler.stage_starts[1]
    assert lgl.needs(state, choosing) == {"class_entropies"}
    with pytest.raises(SignalError, match="lgl round .* needs the signals class_entropies"):
        lgl.plan(state, choosing)
    with pytest.raises(SignalError, match=r"'class_entropies' must have shape \[4\]"):
        lgl.plan(state, choosing, class_entropies=np.ones(3))
    logits = np.random.default_rng(0).normal(size=(N, C)).astype(np.float32)
    by_logits, _ = lgl.plan(state, choosing, logits=logits)  # or the logits they come from
    by_entropies, _ = lgl.plan(
        state, choosing, class_entropies=L.class_entropies(logits, LABELS, state["trained"])
    )
    np.testing.assert_array_equal(by_logits.class_mask, by_entropies.class_mask)


def test_advise_without_cluster_ids_refuses_instead_of_ranking_in_group_minus_one():
    s = L.build_sampler(
        "advise",
        labels=LABELS,
        batch_size=BATCH,
        num_steps=STEPS,
        num_clusters=2,
        clusters_per_batch=4,
    )
    assert "groups" in s.needs(s.init(), 0)
    with pytest.raises(SignalError, match="advise round 0 needs the signals groups"):
        s.plan(s.init(), 0)
    with pytest.raises(SignalError, match="class \\* K \\+ j"):
        s.plan(s.init(), 0, groups=np.zeros(N, np.int32))
    groups = LABELS * 2 + (np.arange(N) // (N // 2))
    plan, state = s.plan(s.init(), 0, groups=groups)
    assert plan.info["clusters_represented"] == 2 * C
    np.testing.assert_array_equal(state["groups"], groups)


def test_signal_functions_match_the_definitions():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, C)).astype(np.float32)
    y = rng.integers(0, C, 50)
    mask = np.array([True, True, False, True])
    expected = optax.softmax_cross_entropy_with_integer_labels(jnp.where(mask, logits, -1e9), y)
    np.testing.assert_allclose(L.per_example_losses(logits, y, mask), expected, rtol=1e-6)
    np.testing.assert_allclose(
        L.class_entropies(logits, y, mask),
        core.class_conditional_entropies(logits, y, mask, num_classes=C),
        rtol=1e-6,
    )
    # compute_signals batches a model's outputs (the last batch padded) into the same arrays.
    x = rng.normal(size=(50, 3)).astype(np.float32)
    w = rng.normal(size=(3, C)).astype(np.float32)
    calls = []

    def predict(xb):
        calls.append(xb.shape)
        return xb @ w

    got = L.compute_signals(
        predict, x, y, {"losses", "features", "class_entropies"}, class_mask=mask, batch_size=16
    )
    assert set(calls) == {(16, 3)} and len(calls) == 4
    np.testing.assert_allclose(got["losses"], L.per_example_losses(x @ w, y, mask), rtol=1e-5)
    np.testing.assert_allclose(got["features"], x @ w, rtol=1e-5)  # logits-only: features = logits
    np.testing.assert_allclose(got["class_entropies"], L.class_entropies(x @ w, y, mask), rtol=1e-5)
    both = L.compute_signals(lambda xb: (xb @ w, xb), x, y, {"features"})
    np.testing.assert_allclose(both["features"], x)


def test_the_embedding_learner_runs_from_arrays_without_a_config():
    rng = np.random.default_rng(0)
    n = 96
    y = np.arange(n) % 3
    x = (rng.integers(0, 60, (n, 8, 8, 1)) + 60 * y[:, None, None, None]).astype(np.uint8)
    settings = dict(
        num_clusters=2, clusters_per_batch=3, examples_per_cluster=4, embed_steps=6,
        refresh_every=3, embed_dim=8, embed_width=0.25, snapshot_examples=10, knn_examples=12,
    )  # fmt: skip
    s = L.build_sampler("advise", labels=y, batch_size=24, num_steps=12, **settings)
    learner = L.build_embedding_learner(x, sampler=s, heldout=(x[:12], y[:12]))
    same = L.build_embedding_learner(x, y, steps_per_round=s.steps_per_round, **settings)
    state, other = learner.init(), same.init()
    for r in range(s.num_rounds):
        state, info = learner.advance(state, r)
        other, _ = same.advance(other, r)
        ids = learner.cluster_ids(state)
        np.testing.assert_array_equal(ids, same.cluster_ids(other))
        np.testing.assert_array_equal(ids // 2, y)  # class · K + j
        s.plan(s.init(), 0, groups=ids)
    assert info["embed_steps"] == 6 and np.isfinite(info["embed_loss"])
    assert learner.snapshot(state)["embeddings"].shape == (10, 8)
    assert 0.0 <= learner.knn_accuracy(state) <= 1.0
    with pytest.raises(ConfigError, match="not both"):
        L.build_embedding_learner(x, y, sampler=s)
    with pytest.raises(ConfigError, match="embed_steps=-1"):
        L.build_embedding_learner(x, y, steps_per_round=4, embed_steps=-1)
    spl = L.build_sampler("spl", labels=y, batch_size=24, num_steps=12)
    with pytest.raises(ConfigError, match="SPL-ADVisE's"):
        L.build_embedding_learner(x, sampler=spl)
