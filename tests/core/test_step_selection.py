"""The online batch selection methods' selectors as pure functions, against numpy.

Each is checked with many ties (small integer scores), padding (weight 0) and fewer
real candidates than ``k``: real candidates come first, best first, ties by position;
padding comes last, in position order.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from lgl_spl.core.step_selection import (
    IRREDUCIBLE,
    Candidates,
    highest_loss,
    highest_scores,
    lowest_loss,
    lowest_scores,
    reducible_loss,
)


def _reference(scores: np.ndarray, weights: np.ndarray, k: int, *, highest: bool) -> np.ndarray:
    """A stable sort: the best real candidates first (ties by position), padding last."""
    key = -scores if highest else scores
    keyed = np.where(weights > 0, key, np.inf)
    return np.argsort(keyed, kind="stable")[:k]


def _candidates(seed: int, m: int, *, real: float = 0.8):
    rng = np.random.default_rng(seed)
    losses = rng.integers(0, 6, m).astype(np.float32) / 2  # many ties
    irreducible = rng.integers(0, 4, m).astype(np.float32) / 4
    weights = (rng.random(m) < real).astype(np.float32)
    c = Candidates(
        indices=np.arange(100, 100 + m, dtype=np.int32),
        labels=rng.integers(0, 10, m).astype(np.int32),
        weights=weights,
        losses=losses,
        logits=np.zeros((m, 10), np.float32),
        per_example={IRREDUCIBLE: irreducible},
    )
    return c, losses, irreducible, weights


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 16, 40])
def test_selectors_match_a_stable_numpy_sort(seed, k):
    c, losses, irreducible, weights = _candidates(seed, 48)
    cases = {
        highest_loss: _reference(losses, weights, k, highest=True),
        lowest_loss: _reference(losses, weights, k, highest=False),
        # float32 arithmetic on both sides: the same differences, the same ties
        reducible_loss: _reference(losses - irreducible, weights, k, highest=True),
    }
    for select, want in cases.items():
        got = np.asarray(jax.jit(select, static_argnums=1)(c, k))
        np.testing.assert_array_equal(got, want, err_msg=select.__name__)
        assert got.dtype == np.int32


def test_fewer_real_candidates_than_k_keep_every_real_one_then_padding_in_order():
    c, losses, _, _ = _candidates(7, 32)
    weights = np.zeros(32, np.float32)
    weights[[3, 9, 20]] = 1
    c = c._replace(weights=weights)
    for select in (highest_loss, lowest_loss, reducible_loss):
        got = np.asarray(select(c, 8))
        assert sorted(got[:3]) == [3, 9, 20]
        np.testing.assert_array_equal(got[3:], [0, 1, 2, 4, 5])  # padding by position


def test_highest_and_lowest_scores_are_mirror_images_without_ties():
    rng = np.random.default_rng(3)
    scores = rng.permutation(64).astype(np.float32)
    weights = np.ones(64, np.float32)
    np.testing.assert_array_equal(
        highest_scores(scores, weights, 10), lowest_scores(-scores, weights, 10)
    )
    np.testing.assert_array_equal(
        highest_scores(scores, weights, 3), [np.argmax(scores), *np.argsort(-scores)[1:3]]
    )


def test_reducible_loss_prefers_a_learnable_point_over_a_noisy_one():
    """The paper's point: a high loss the IL model shares (a flipped label) is not chosen."""
    losses = np.array([2.0, 3.0, 0.1], np.float32)  # 1: hardest now
    irreducible = np.array([0.2, 2.9, 0.1], np.float32)  # … but the IL model finds it hard too
    c = Candidates(
        np.arange(3, dtype=np.int32), np.zeros(3, np.int32), np.ones(3, np.float32), losses,
        np.zeros((3, 2), np.float32), {IRREDUCIBLE: irreducible},
    )  # fmt: skip
    assert int(highest_loss(c, 1)[0]) == 1
    assert int(reducible_loss(c, 1)[0]) == 0
