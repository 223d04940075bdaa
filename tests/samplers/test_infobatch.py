"""The infobatch sampler: scores from the steps' own losses, pruned short rounds, annealing."""

import numpy as np

import lgl_spl as L

N, BATCH = 100, 10


def _sampler(**settings):
    labels = np.arange(N) % 5
    return L.build_sampler("infobatch", labels=labels, batch_size=BATCH, num_steps=80, **settings)


def _trained(losses):
    n = len(losses)
    return L.Trained(np.arange(n), np.asarray(losses, np.float32), np.ones(n, bool),
                     np.ones(n, np.float32))  # fmt: skip


def test_the_first_pass_keeps_everything_then_easy_examples_are_pruned_and_rescaled():
    s = _sampler()
    assert s.num_rounds == 8 and s.needs(s.init(), 0) == frozenset()
    state = s.init()
    plan, state = s.plan(state, 0)
    assert plan.indices.shape == (10, BATCH) and np.all(plan.weights == 1.0)
    losses = np.where(np.arange(N) < 50, 0.1, 3.0)  # 50 easy examples (below the mean)
    plan, state = s.plan(state, 1, trained=_trained(losses))
    np.testing.assert_array_equal(state["scores"], losses.astype(np.float32))
    real = plan.weights > 0
    kept = np.unique(plan.indices[real])
    assert set(range(50, N)) <= set(kept.tolist())  # every hard example stays
    easy_kept = [i for i in kept if i < 50]
    assert 10 < len(easy_kept) < 40  # about half of the 50 easy ones
    assert plan.indices.shape == (int(np.ceil(kept.size / BATCH)), BATCH)  # a short round
    easy_slots = real & (plan.indices < 50)
    assert np.all(plan.weights[easy_slots] == 2.0) and np.all(plan.weights[real & ~easy_slots] == 1)
    assert plan.info["pruned"] == N - kept.size


def test_the_last_passes_train_on_all_data_unweighted():
    s = _sampler(anneal=0.5)  # rounds 4..7 of 8 anneal
    state = s.init()
    losses = np.where(np.arange(N) < 50, 0.1, 3.0)
    for r in range(8):
        plan, state = s.plan(state, r, trained=_trained(losses) if r else None)
        full = plan.indices.shape == (10, BATCH) and np.all(plan.weights == 1.0)
        assert full == (r == 0 or r >= 4), r


def test_the_latest_presentation_of_an_example_is_its_score():
    s = _sampler()
    state = s.init()
    _, state = s.plan(state, 0)
    trained = L.Trained(np.array([3, 3, 7, 9]), np.array([5.0, 0.2, 1.5, 9.0], np.float32),
                        np.ones(4, bool), np.array([1.0, 1.0, 1.0, 0.0], np.float32))  # fmt: skip
    _, state = s.plan(state, 1, trained=trained)
    assert state["scores"][3] == np.float32(0.2) and state["scores"][7] == np.float32(1.5)
    assert state["scores"][9] == 1.0  # a padding slot (weight 0) is not a presentation
