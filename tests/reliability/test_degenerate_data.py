"""Degenerate data: tiny classes, duplicates, identical embeddings, tied losses, one class
left, and training that diverges. Nothing crashes, nothing turns silently into NaN.

Related existing tests: tests/core/test_neighbourhood.py::
test_small_clusters_sample_with_repeats_and_prebuilt_index (clusters smaller than D),
tests/core/test_neighbourhood.py::test_too_few_impostors_fall_back_to_seed_cluster,
tests/samplers/test_samplers.py::test_lgl_one_stage_is_all_classes.
"""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest

import lgl_spl as L
from lgl_spl.configlib import set_method
from lgl_spl.data.sources import load_digits
from lgl_spl.samplers import SamplerContext, Signals, make_sampler
from lgl_spl.train import experiment as experiment_module
from lgl_spl.train import train_and_evaluate
from tests.helpers import read_metrics
from tests.reliability.common import TINY, call_main, config, error_lines, latest_checkpoint

# ---- the core functions on degenerate inputs -------------------------------------------


# Shapes as in test_properties.py (24 points in 2-D, k ≤ 3): the programs compile once.


@pytest.mark.parametrize("value", [0.0, 3.5, -1e6])
def test_kmeans_on_identical_points(value):
    """All points equal (duplicate images, or an embedding that collapsed)."""
    pts = np.full((24, 2), value, np.float32)
    res = L.kmeans(jax.random.key(0), pts, 3, mask=np.ones(24, bool))
    assert np.isfinite(np.asarray(res.centroids)).all()
    a = np.asarray(res.assignments)
    assert a.min() >= 0 and a.max() < 3 and float(res.inertia) == 0.0

    labels = np.arange(24) % 3
    res = L.kmeans_per_class(jax.random.key(1), pts, labels, 3, 2, max_class_size=24)
    ids = np.asarray(res.assignments)
    assert np.isfinite(np.asarray(res.centroids)).all()
    np.testing.assert_array_equal(ids // 2, labels)  # a cluster never crosses a class


def test_kmeans_per_class_with_a_class_smaller_than_k():
    """kmeans_per_class itself tolerates it (duplicate centres); the samplers refuse K > class."""
    pts = np.asarray(jax.random.normal(jax.random.key(0), (24, 2)))
    labels = np.array([0] * 11 + [1] * 12 + [2])  # class 2 has one example, k = 2
    res = L.kmeans_per_class(jax.random.key(1), pts, labels, 3, 2, max_class_size=24)
    ids = np.asarray(res.assignments)
    assert np.isfinite(np.asarray(res.centroids)).all() and ids[-1] // 2 == 2


@jax.jit
def _magnet_with_grads(r):
    classes = jnp.array([0, 1, 2, 0])
    (loss, per), grads = jax.value_and_grad(lambda x: L.magnet_loss(x, classes), has_aux=True)(r)
    return loss, per, grads


@pytest.mark.parametrize("scale", [0.0, 1.0, 1e20])
def test_magnet_loss_on_identical_embeddings(scale):
    loss, per, grads = _magnet_with_grads(jnp.full((4, 3, 5), scale, jnp.float32))
    assert np.isfinite(float(loss)) and np.isfinite(np.asarray(per)).all()
    assert np.isfinite(np.asarray(grads)).all()


def test_neighbourhood_when_every_example_is_in_one_cluster_per_class():
    """Identical embeddings put a class in one cluster: the others are empty, never drawn."""
    k, classes = 3, 4
    labels = np.repeat(np.arange(classes), 5)
    ids = (labels * k).astype(np.int32)  # only cluster j = 0 of each class is used
    centroids = np.zeros((classes * k, 2), np.float32)
    for seed in range(5):
        idx, chosen = L.sample_neighbourhood(
            jax.random.key(seed),
            ids,
            centroids,
            np.arange(classes * k) // k,
            np.full(len(ids), np.nan, np.float32),
            num_clusters_per_batch=3,
            examples_per_cluster=8,  # more than the 5 members: drawn with replacement
        )
        chosen = np.asarray(chosen)
        assert np.all(chosen % k == 0)
        for row, c in zip(np.asarray(idx), chosen, strict=True):
            assert np.all(ids[row] == c)


# ---- samplers on tied losses and on the last class ----------------------------------------


def _context(counts, steps=200, batch=8, seed=0):
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int32)
    rng = np.random.default_rng(seed)
    return SamplerContext(
        num_examples=len(labels),
        num_classes=len(counts),
        batch_size=batch,
        seed=seed,
        num_steps=steps,
        labels=labels,
        x_train=rng.integers(0, 256, (len(labels), 4, 4, 1), dtype=np.uint8),
    )


def _cfg(name, **kw):
    return set_method(ml_collections.ConfigDict({"method": {}}), name, **kw).method


def _signals(ctx, losses):
    n = ctx.num_examples
    logits = np.zeros((n, ctx.num_classes), np.float32)
    return Signals(np.asarray(losses, np.float32), logits, np.zeros((n, 3), np.float32), ctx.labels)


@pytest.mark.parametrize("name", ["spl", "spl_inv", "spld"])
@pytest.mark.parametrize("loss", [0.0, 1.3])
def test_tied_losses_never_give_an_empty_round(name, loss):
    """Every loss equal: λ sits on the tie; the round still trains on real examples."""
    ctx = _context([20, 20, 20])
    spld = {"num_clusters": 2, "groups": "pixels"} if name == "spld" else {}
    sampler = make_sampler(_cfg(name, **spld), ctx)
    state = sampler.init()
    for r in range(4):
        signals = _signals(ctx, np.full(ctx.num_examples, loss))
        plan, state = sampler.plan_round(
            state, r, signals if sampler.needs_signals(state, r) else None
        )
        selected = np.asarray(state["selected"])
        assert selected.any() and plan.info["selected_fraction"] > 0
        assert set(plan.indices.ravel()) <= set(np.flatnonzero(selected))
        assert plan.weights.sum() == ctx.num_examples  # a full round of updates


@pytest.mark.parametrize("order", ["dissimilar", "similar", "random"])
def test_lgl_last_stage_adds_the_one_class_left(order):
    """10 classes in 4 stages: 3 + 3 + 3 + 1; the last stage has one class to choose."""
    ctx = _context([6] * 10, steps=8 * 8)  # 8 rounds of 8 steps
    sampler = make_sampler(_cfg("lgl", num_stages=4, order=order), ctx)
    state = sampler.init()
    rng = np.random.default_rng(0)
    sizes = []
    for r in range(ctx.num_rounds):
        sig = None
        if sampler.needs_signals(state, r):
            logits = rng.normal(size=(ctx.num_examples, 10)).astype(np.float32)
            sig = Signals(np.ones(ctx.num_examples, np.float32), logits, logits, ctx.labels)
        plan, state = sampler.plan_round(state, r, sig)
        sizes.append(int(plan.class_mask.sum()))
    assert sizes[-1] == 10 and sorted(set(sizes)) == [3, 6, 9, 10]


def test_lgl_class_without_examples_is_added_last():
    """A label with no training examples (an npz's label_names) has no entropy: it comes last."""
    ctx = _context([6, 6, 0, 6], steps=8 * 8)
    sampler = make_sampler(_cfg("lgl", num_stages=4, order="dissimilar"), ctx)
    state, added = sampler.init(), []
    for r in range(ctx.num_rounds):
        sig = None
        if sampler.needs_signals(state, r):
            logits = np.random.default_rng(r).normal(size=(ctx.num_examples, 4))
            sig = Signals(np.ones(ctx.num_examples), logits.astype(np.float32), logits, ctx.labels)
        before = np.asarray(state["trained"]).copy()
        _, state = sampler.plan_round(state, r, sig)
        added += np.flatnonzero(np.asarray(state["trained"]) & ~before).tolist()
    assert added[-1] == 2 and sorted(added) == [0, 1, 2, 3]


# ---- whole runs on a degenerate dataset -------------------------------------------------


def _degenerate_npz(path) -> None:
    """Digits with a 3-example class, a class of identical images and cross-class duplicates.

    320 training and 359 test images of 8×8: the shapes of the tiny digits runs, so the
    compiled steps are shared with them.
    """
    raw = load_digits(seed=0)
    rng = np.random.default_rng(0)
    counts = [36, 36, 35, 35, 35, 35, 35, 35, 35, 3]
    keep = np.concatenate(
        [rng.permutation(np.flatnonzero(raw.y_train == c))[:n] for c, n in enumerate(counts)]
    )
    x, y = raw.x_train[keep].copy(), raw.y_train[keep].copy()
    x[y == 0] = x[y == 0][0]  # class 0: one image, duplicated
    x[np.flatnonzero(y == 1)[:5]] = x[np.flatnonzero(y == 2)[:5]]  # same image, two labels
    assert len(y) == 320 and (y == 9).sum() == 3
    np.savez(path, x_train=x, y_train=y, x_test=raw.x_test, y_test=raw.y_test)


DEGENERATE_RUNS = {
    # K = 2 ≤ the 3-example class; D = 4 > its clusters' sizes (drawn with replacement).
    "advise": {"num_clusters": 2, "examples_per_cluster": 4},
    "spld": {"num_clusters": 3},
    "lgl": {"num_stages": 4, "order": "similar"},  # 3 + 3 + 3 + 1 classes
}


@pytest.mark.slow
@pytest.mark.parametrize("name", DEGENERATE_RUNS)
def test_runs_on_degenerate_data(tmp_path, name):
    npz = str(tmp_path / "degenerate.npz")
    _degenerate_npz(npz)
    c = config(name, num_steps=40, eval_every=10)
    c.data.npz_path = npz
    c.method.update(DEGENERATE_RUNS[name])
    last = train_and_evaluate(c, str(tmp_path / "run"))
    rows = read_metrics(str(tmp_path / "run"))
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    for r in rows:
        assert np.isfinite(r["train_loss"]) and np.isfinite(r["test_loss"])
        assert 0 < r["selected_fraction"] <= 1
    assert 0.0 <= last["test_accuracy"] <= 1.0
    if name == "lgl":
        assert len(rows[-1]["classes"]) == 10


# ---- divergence: NaN or Inf during training ---------------------------------------------


def _finite_checkpoints(ckpt_dir) -> dict[int, bool]:
    out = {}
    for name in os.listdir(ckpt_dir):
        if name.isdigit():
            tree = ocp.PyTreeCheckpointer().restore(os.path.join(ckpt_dir, name, "state"))
            leaves = [np.asarray(x) for x in jax.tree.leaves(tree["train"])]
            out[int(name)] = all(np.isfinite(x).all() for x in leaves if x.dtype.kind == "f")
    return out


@pytest.mark.slow
def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch, capsys
):
    """Resume a good run at step 30 with a learning rate of 1e38: training diverges within
    a step or two. Exit 3 naming the step; the checkpoints kept on disk (one per step until
    then) are all finite, the newest is the last good one, no metrics row comes after it."""
    run = tmp_path / "run"
    train_and_evaluate(config("random", num_steps=30), str(run))
    code, err, _ = call_main(
        monkeypatch,
        capsys,
        f"--config={TINY}:random",
        f"--workdir={run}",
        "--config.train.learning_rate=1e38",
        "--config.train.lr_schedule=constant",
        "--config.train.checkpoint_every=1",
        "--allow_config_change",
    )
    assert code == 3 and "Traceback" not in err
    (line,) = error_lines(err)
    assert "training diverged" in line and "step" in line, line
    bad_step = int(line.split(" step ")[1].split(";")[0].split()[0])
    assert bad_step > 30
    finite = _finite_checkpoints(run / "checkpoints")
    assert finite and all(finite.values()), finite
    assert max(finite) == latest_checkpoint(run) < bad_step + 1
    assert read_metrics(str(run))[-1]["step"] <= latest_checkpoint(run)


@pytest.mark.slow
def test_weights_blown_up_by_the_last_update_are_never_saved(tmp_path, monkeypatch):
    """The loss of step k is computed before its update: a finite loss can come with
    non-finite weights (a backward pass that overflowed). Step 35 is such a step here, and
    also a checkpoint step; the run must stop there rather than save the broken weights."""
    real_make_steps = experiment_module.make_steps

    def make_steps(*args, **kwargs):
        steps = real_make_steps(*args, **kwargs)

        def train(state, *rest):
            state, out = steps.train(state, *rest)
            if int(state.step) == 35:
                state = state.replace(params=jax.tree.map(lambda p: p * jnp.inf, state.params))
            return state, out

        return steps._replace(train=train)

    monkeypatch.setattr(experiment_module, "make_steps", make_steps)
    run = tmp_path / "run"
    with pytest.raises(FloatingPointError, match="weights are not finite after step 35"):
        train_and_evaluate(config("random", checkpoint_every=5), str(run))
    finite = _finite_checkpoints(run / "checkpoints")
    assert latest_checkpoint(run) == 30 and finite and all(finite.values()), finite
