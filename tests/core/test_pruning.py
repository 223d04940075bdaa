"""Static pruning's scores and kept sets against numpy references written loop by loop."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lgl_spl import core


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class ScoresTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_el2n_is_the_norm_of_the_error_vector(self):
        rng = np.random.default_rng(0)
        logits = rng.normal(size=(50, 7)).astype(np.float32) * 3
        labels = rng.integers(0, 7, 50)
        got = self.variant(core.el2n)(logits, labels)
        p = _softmax(logits.astype(np.float64))
        ref = [np.linalg.norm(p[i] - np.eye(7)[labels[i]]) for i in range(50)]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
        chex.assert_shape(got, (50,))

    @chex.variants(with_jit=True, without_jit=True)
    def test_grand_equals_the_closed_form_gradient_of_a_linear_softmax(self):
        """ℓ = CE(softmax(W x + b), y): ∇_W = (p − e_y) xᵀ, ∇_b = p − e_y, so ‖∇‖² =
        ‖p − e_y‖² (‖x‖² + 1)."""
        rng = np.random.default_rng(1)
        x = rng.normal(size=(30, 5)).astype(np.float32)
        y = rng.integers(0, 4, 30)
        params = {"w": rng.normal(size=(5, 4)).astype(np.float32), "b": np.zeros(4, np.float32)}

        def loss_of_one(p, xi, yi):
            z = xi @ p["w"] + p["b"]
            return -jax.nn.log_softmax(z)[yi]

        fn = self.variant(lambda p, x, y: core.grad_norms(loss_of_one, p, (x, y)))
        got = fn(params, x, y)
        prob = _softmax((x @ params["w"]).astype(np.float64))
        err = np.linalg.norm(prob - np.eye(4)[y], axis=1)
        ref = err * np.sqrt((x.astype(np.float64) ** 2).sum(1) + 1)
        np.testing.assert_allclose(got, ref, rtol=1e-4)


def _slow_forgetting(presentations, n):
    """Per presentation, in order: (index, correct)."""
    last, events, learned = [None] * n, [0] * n, [False] * n
    for i, correct in presentations:
        if last[i] is True and not correct:
            events[i] += 1
        last[i] = bool(correct)
        learned[i] = learned[i] or bool(correct)
    return events, learned


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 12),
    passes=st.integers(1, 6),
    batch=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_forgetting_counts_equal_a_slow_per_presentation_reference(n, passes, batch, seed):
    rng = np.random.default_rng(seed)
    update = jax.jit(core.forgetting_update)
    state = core.forgetting_init(n)
    presentations = []
    for _ in range(passes):
        order = rng.permutation(n)
        steps = -(-n // batch)
        slots = np.concatenate([order, rng.integers(0, n, steps * batch - n)])  # padded
        weights = (np.arange(steps * batch) < n).astype(np.float32)
        correct = rng.random(steps * batch) < 0.6
        for s in range(steps):
            sl = slice(s * batch, (s + 1) * batch)
            state = update(state, slots[sl], correct[sl], weights[sl])
            presentations += [
                (i, c) for i, c, w in zip(slots[sl], correct[sl], weights[sl], strict=True) if w
            ]
    events, learned = _slow_forgetting(presentations, n)
    np.testing.assert_array_equal(state[1], events)
    np.testing.assert_array_equal(state[2], learned)
    scores = np.asarray(core.forgetting_scores(state, passes))
    np.testing.assert_array_equal(scores, np.where(learned, events, passes))
    assert np.all(scores[np.asarray(learned)] <= passes // 2)  # never-learned rank above all


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), frac=st.floats(0.01, 1.0), hardest=st.booleans(),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_keep_by_score_keeps_the_extremes_with_ties_to_the_lower_index(n, frac, hardest, seed):
    scores = np.random.default_rng(seed).integers(0, 5, n).astype(np.float32)  # many ties
    k = max(1, round(frac * n))
    keep = jax.jit(core.keep_by_score, static_argnums=1, static_argnames="hardest")
    got = np.asarray(keep(scores, k, hardest=hardest))
    key = [(-s if hardest else s, i) for i, s in enumerate(scores)]
    ref = np.zeros(n, bool)
    ref[[i for _, i in sorted(key)[:k]]] = True
    np.testing.assert_array_equal(got, ref)


def _slow_ccs(scores, uniform, k, beta, bins):
    """CCS (Zheng et al. 2023, Algorithm 1), loop by loop."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: (-scores[i], i))
    dropped = set(order[: int(round(beta * n))])
    pool = [i for i in range(n) if i not in dropped]
    lo, hi = min(scores[i] for i in pool), max(scores[i] for i in pool)
    width = max(hi - lo, 1e-12) / bins
    members = {b: [] for b in range(bins)}
    for i in pool:
        members[min(int(np.floor((scores[i] - lo) / width)), bins - 1)].append(i)
    budget, kept = min(k, len(pool)), []
    remaining = sorted(range(bins), key=lambda b: (len(members[b]), b))
    while remaining:
        b = remaining.pop(0)
        take = min(len(members[b]), budget // (len(remaining) + 1))
        kept += sorted(members[b], key=lambda i: (uniform[i], i))[:take]
        budget -= take
    mask = np.zeros(n, bool)
    mask[kept] = True
    return mask


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 80), frac=st.floats(0.05, 1.0), beta=st.sampled_from([0.0, 0.1, 0.3]),
       bins=st.integers(1, 12), seed=st.integers(0, 2**16))  # fmt: skip
def test_coverage_centric_selection_equals_the_algorithm_written_loop_by_loop(
    n, frac, beta, bins, seed
):
    rng = np.random.default_rng(seed)
    scores = rng.gamma(2.0, size=n).astype(np.float32)
    uniform = rng.random(n).astype(np.float32)
    k = max(1, round(frac * n))
    if round(beta * n) >= n:
        return
    fn = jax.jit(lambda s, u: core.coverage_centric(s, u, k, hard_prune=beta, bins=bins))
    got = np.asarray(fn(scores, uniform))
    np.testing.assert_array_equal(got, _slow_ccs(scores, uniform, k, beta, bins))
    assert got.sum() == min(k, n - round(beta * n))


def test_coverage_centric_covers_the_score_range_where_hardest_does_not():
    """Scores concentrated at the easy end: CCS keeps examples from every bin."""
    rng = np.random.default_rng(3)
    scores = np.concatenate([rng.random(900) * 0.1, 0.1 + rng.random(100) * 0.9]).astype(np.float32)
    uniform = rng.random(1000).astype(np.float32)
    kept = np.asarray(core.coverage_centric(scores, uniform, 100, hard_prune=0.0, bins=10))
    bins = np.minimum((scores / 0.1).astype(int), 9)
    assert set(bins[kept].tolist()) == set(range(10))
    hardest = np.asarray(core.keep_by_score(jnp.asarray(scores), 100, hardest=True))
    assert bins[hardest].min() >= 1  # only the hard end
