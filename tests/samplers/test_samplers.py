"""Sampler invariants: growth, the pace rule, SPLD prefixes, LGL stages, determinism."""

import ml_collections
import numpy as np
import pytest

from lgl_spl import core
from lgl_spl.configlib import set_method
from lgl_spl.errors import ConfigError
from lgl_spl.samplers import SamplerContext, Signals, fill_round, make_sampler, round_rng


def context(n=600, classes=6, batch=32, steps=600, seed=0):
    labels = np.arange(n) % classes
    rng = np.random.default_rng(seed)
    return SamplerContext(
        num_examples=n,
        num_classes=classes,
        batch_size=batch,
        seed=seed,
        num_steps=steps,
        labels=labels.astype(np.int32),
        x_train=rng.integers(0, 256, (n, 4, 4, 1), dtype=np.uint8),
    )


def method(name, **kw):
    return set_method(ml_collections.ConfigDict({"method": {}}), name, **kw).method


def signals(ctx, rng, logits=None):
    losses = rng.gamma(2.0, 0.5, ctx.num_examples).astype(np.float32)
    if logits is None:
        logits = rng.normal(size=(ctx.num_examples, ctx.num_classes)).astype(np.float32)
    feats = rng.normal(size=(ctx.num_examples, 5)).astype(np.float32)
    return Signals(losses, logits, feats, ctx.labels)


def run_rounds(sampler, ctx, rounds, seed=0):
    rng = np.random.default_rng(seed)
    state = sampler.init()
    out = []
    for r in range(rounds):
        sig = signals(ctx, rng) if sampler.needs_signals(state, r) else None
        plan, state = sampler.plan_round(state, r, sig)
        out.append((plan, state, sig))
    return out


def test_fill_round_covers_and_pads():
    rng = round_rng(0, 0)
    subset = np.arange(0, 100, 3)
    idx, w = fill_round(rng, subset, 100, 4, 32)
    assert idx.shape == (4, 32) and w.sum() == 100
    assert set(idx.ravel()) == set(subset)
    first_pass = idx.ravel()[: len(subset)]
    assert sorted(first_pass) == sorted(subset)  # each pass is a permutation


@pytest.mark.parametrize("name", ["spl", "spl_inv", "spld"])
def test_selection_grows_and_reaches_all_data(name):
    ctx = context()
    sampler = make_sampler(method(name), ctx)
    fractions = [p.info["selected_fraction"] for p, _, _ in run_rounds(sampler, ctx, 12)]
    assert fractions[0] == 1.0  # warm-up round
    assert fractions[1] < 0.7
    assert fractions[-1] == 1.0
    assert all(b >= a - 0.06 for a, b in zip(fractions[1:], fractions[2:], strict=False))


@pytest.mark.parametrize("name", ["spl", "spl_inv", "spld"])
def test_pace_and_selection_follow_the_rule(name):
    ctx = context()
    sampler = make_sampler(method(name), ctx)
    for r, (plan, state, sig) in enumerate(run_rounds(sampler, ctx, 5)):
        if r == 0:
            continue
        p = core.pace(sig.losses, r - 1)
        keep = np.asarray(state["selected"])
        if name == "spl":
            np.testing.assert_allclose(plan.info["lam"], p.lam, rtol=1e-6)
            np.testing.assert_array_equal(keep, sig.losses < p.lam)
        elif name == "spl_inv":
            np.testing.assert_array_equal(keep, sig.losses > p.lam_inv)
        else:
            np.testing.assert_allclose(plan.info["gamma"], p.gamma, rtol=1e-6)
            groups = np.asarray(state["groups"])
            for g in np.unique(groups):  # a prefix of each group's loss order
                idx = np.flatnonzero(groups == g)
                sorted_keep = keep[idx[np.argsort(sig.losses[idx], kind="stable")]]
                assert not np.any(np.diff(sorted_keep.astype(int)) > 0)
        # Only selected examples carry weight.
        assert np.all(keep[plan.indices[plan.weights > 0]])


def test_spld_groups_are_per_class_clusters_computed_once():
    ctx = context()
    sampler = make_sampler(method("spld", num_clusters=4), ctx)
    rounds = run_rounds(sampler, ctx, 4)
    g0 = np.asarray(rounds[0][1]["groups"])
    assert np.all(g0 // 4 == ctx.labels)
    for _, state, _ in rounds[1:]:
        np.testing.assert_array_equal(state["groups"], g0)


def test_spld_on_pixels_needs_no_scoring_at_round_zero():
    ctx = context()
    sampler = make_sampler(method("spld", groups="pixels"), ctx)
    state = sampler.init()
    assert not sampler.needs_signals(state, 0)
    _, state = sampler.plan_round(state, 0, None)
    assert np.all(np.asarray(state["groups"]) >= 0)


@pytest.mark.parametrize("name", ["spl", "spld", "lgl"])
def test_deterministic_for_a_seed(name):
    a = run_rounds(make_sampler(method(name), context()), context(), 4)
    b = run_rounds(make_sampler(method(name), context()), context(), 4)
    for (pa, _, _), (pb, _, _) in zip(a, b, strict=True):
        np.testing.assert_array_equal(pa.indices, pb.indices)
        np.testing.assert_array_equal(pa.weights, pb.weights)


def test_lgl_stages_classes_and_masks():
    ctx = context(classes=6, steps=19 * 12)  # 12 rounds of 19 steps
    sampler = make_sampler(method("lgl", num_stages=3, schedule_steps=100), ctx)
    rounds = run_rounds(sampler, ctx, 12)
    sizes = [len(p.info["classes"]) for p, _, _ in rounds]
    assert sizes[0] == 2 and sizes[-1] == 6 and sizes == sorted(sizes)
    assert list(sampler.stage_starts) == [0, 2, 6]  # rounds ∝ classes trained: 2, 4, 6
    for plan, _, _ in rounds:
        trained = plan.class_mask
        used = ctx.labels[plan.indices[plan.weights > 0]]
        assert np.all(trained[used])  # never trains on an untrained class
        assert plan.info["classes"] == np.flatnonzero(trained).tolist()
    starts = [r for r, (p, _, _) in enumerate(rounds) if p.reinit_classes is not None]
    assert starts == [2, 6]
    stage1 = rounds[2][0]
    assert stage1.schedule_start == 2 * ctx.steps_per_round
    np.testing.assert_allclose(stage1.schedule_scale, 100 / (4 * ctx.steps_per_round))


@pytest.mark.parametrize("order", ["dissimilar", "similar"])
def test_lgl_order_picks_by_entropy(order):
    ctx = context(classes=6, steps=19 * 12)
    sampler = make_sampler(method("lgl", num_stages=3, order=order), ctx)
    state = sampler.init()
    plan, state = sampler.plan_round(state, 0, None)
    trained = np.asarray(state["trained"])
    # Logits: classes 0..5 get increasingly flat softmaxes over the trained classes.
    rng = np.random.default_rng(0)
    sharp = np.linspace(8.0, 0.0, ctx.num_classes)[ctx.labels]
    logits = rng.normal(size=(ctx.num_examples, ctx.num_classes)) * sharp[:, None]
    sig = Signals(
        np.zeros(ctx.num_examples, np.float32),
        logits.astype(np.float32),
        np.zeros((ctx.num_examples, 2), np.float32),
        ctx.labels,
    )
    assert sampler.needs_signals(state, 2)
    plan, state = sampler.plan_round(state, 2, sig)
    h = np.asarray(
        core.class_conditional_entropies(logits, ctx.labels, trained, num_classes=ctx.num_classes)
    )
    remaining = np.flatnonzero(~trained)
    ranked = remaining[np.argsort(-h[remaining] if order == "dissimilar" else h[remaining])]
    assert set(np.flatnonzero(plan.reinit_classes)) == set(ranked[:2])
    logged = plan.info["class_entropies"]  # LGL Table 2's numbers, for the report
    assert [logged[i] is None for i in range(ctx.num_classes)] == list(trained)
    np.testing.assert_allclose([logged[i] for i in remaining], h[remaining], rtol=1e-6)


def test_lgl_rejects_more_stages_than_classes_or_rounds():
    with pytest.raises(ConfigError, match="num_stages"):
        make_sampler(method("lgl", num_stages=7), context(classes=6))
    with pytest.raises(ConfigError, match="rounds"):
        make_sampler(method("lgl", num_stages=3), context(classes=6, steps=20))
    with pytest.raises(ConfigError, match="method.order must be one of"):
        make_sampler(method("lgl", order="sideways"), context())


def test_lgl_one_stage_is_all_classes():
    ctx = context(classes=6)
    rounds = run_rounds(make_sampler(method("lgl", num_stages=1), ctx), ctx, 2)
    assert rounds[0][0].info["classes"] == list(range(6))


@pytest.mark.parametrize("name", ["spl", "spl_inv", "spld"])
def test_max_fraction_caps_every_selecting_round(name):
    ctx = context()
    sampler = make_sampler(method(name, max_fraction=0.6), ctx)
    rounds = run_rounds(sampler, ctx, 12)
    fractions = [p.info["selected_fraction"] for p, _, _ in rounds]
    assert fractions[0] == 1.0  # warm-up
    assert all(f <= 0.6 for f in fractions[1:]) and fractions[-1] >= 0.59, fractions
    for plan, state, _ in rounds[1:]:
        assert np.all(np.asarray(state["selected"])[plan.indices[plan.weights > 0]])
    uncapped = run_rounds(make_sampler(method(name), ctx), ctx, 12)
    assert uncapped[-1][0].info["selected_fraction"] == 1.0  # the papers' pace: all data
