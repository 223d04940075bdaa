"""knn_accuracy against a slow numpy reference."""

import chex
import numpy as np
from absl.testing import parameterized

import lgl_spl as L


def knn_reference(refs, ref_labels, queries, query_labels, k, num_classes):
    correct = 0
    for q, label in zip(queries, query_labels, strict=True):
        d = np.sum((refs - q) ** 2, axis=1)
        nearest = np.argsort(d, kind="stable")[:k]
        votes = np.bincount(ref_labels[nearest], minlength=num_classes)
        correct += int(np.argmax(votes) == label)
    return correct / len(queries)


class KnnTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(k=[1, 5, 10], seed=[0, 1, 2])
    def test_matches_reference(self, k, seed):
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(4, 6)) * 3
        ref_labels = rng.integers(0, 4, 200)
        refs = centres[ref_labels] + rng.normal(size=(200, 6))
        query_labels = rng.integers(0, 4, 50)
        queries = centres[query_labels] + rng.normal(size=(50, 6))
        fn = self.variant(lambda *a: L.knn_accuracy(*a, k=k, num_classes=4))
        got = float(fn(refs, ref_labels, queries, query_labels))
        want = knn_reference(refs, ref_labels, queries, query_labels, k, 4)
        assert abs(got - want) < 1e-6
        assert 0.5 < got <= 1.0  # separated clusters: far above chance

    def test_chance_on_shuffled_labels(self):
        rng = np.random.default_rng(0)
        points = rng.normal(size=(2000, 3))
        acc = float(
            L.knn_accuracy(
                points, rng.integers(0, 10, 2000), points[:500], rng.integers(0, 10, 500),
                k=10, num_classes=10,
            )
        )  # fmt: skip
        assert 0.03 < acc < 0.2
