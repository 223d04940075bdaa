"""k-means and per-class k-means against numpy / scikit-learn."""

import chex
import jax
import numpy as np
from absl.testing import parameterized
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

import lgl_spl as L


def inertia_np(points, centroids, assign):
    return float(np.sum((points - centroids[assign]) ** 2))


class KMeansTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters((500, 4, 2, 0), (2000, 8, 16, 1), (300, 3, 64, 2))
    def test_inertia_close_to_sklearn(self, n, k, dim, seed):
        pts, _ = make_blobs(n, n_features=dim, centers=k, cluster_std=1.5, random_state=seed)
        pts = pts.astype(np.float32)
        res = self.variant(lambda key, x: L.kmeans(key, x, k, num_iters=20))(
            jax.random.key(seed), pts
        )
        chex.assert_shape([res.centroids, res.assignments], [(k, dim), (n,)])
        chex.assert_type([res.centroids, res.assignments], [np.float32, np.int32])
        sk = KMeans(k, n_init=1, max_iter=20, tol=0, random_state=seed).fit(pts)
        assert float(res.inertia) <= sk.inertia_ * 1.02
        # Assignments are the nearest centroids and the inertia is theirs.
        d2 = ((pts[:, None] - np.asarray(res.centroids)[None]) ** 2).sum(-1)
        np.testing.assert_array_equal(np.asarray(res.assignments), d2.argmin(1))
        np.testing.assert_allclose(
            res.inertia, inertia_np(pts, np.asarray(res.centroids), res.assignments), rtol=1e-3
        )

    def test_deterministic_for_a_key(self):
        pts = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
        a = L.kmeans(jax.random.key(3), pts, 5)
        b = L.kmeans(jax.random.key(3), pts, 5)
        chex.assert_trees_all_equal(a, b)

    def test_mask_ignores_points(self):
        pts = np.concatenate([np.zeros((50, 2)), np.full((50, 2), 100.0)]).astype(np.float32)
        mask = np.arange(100) < 50
        res = L.kmeans(jax.random.key(0), pts, 2, mask=mask)
        assert np.all(np.asarray(res.assignments)[50:] == -1)
        assert np.abs(np.asarray(res.centroids)).max() < 1e-5
        chex.assert_tree_all_finite(res)

    def test_fewer_points_than_clusters_and_duplicates(self):
        pts = np.ones((3, 4), np.float32)
        res = L.kmeans(jax.random.key(0), pts, 8)
        chex.assert_tree_all_finite(res)
        assert float(res.inertia) == 0.0

    def test_no_empty_clusters_on_separated_data(self):
        pts, _ = make_blobs(600, n_features=2, centers=6, cluster_std=0.1, random_state=4)
        res = L.kmeans(jax.random.key(1), pts.astype(np.float32), 6)
        assert len(np.unique(np.asarray(res.assignments))) == 6

    def test_compiles_once(self):
        f = jax.jit(chex.assert_max_traces(lambda key, x: L.kmeans(key, x, 4), n=1))
        for s in range(3):
            f(jax.random.key(s), np.random.default_rng(s).normal(size=(128, 3)).astype(np.float32))


class KMeansPerClassTest(parameterized.TestCase):
    @parameterized.parameters((3, 4, 0), (10, 8, 1))
    def test_matches_per_class_kmeans(self, num_classes, k, seed):
        rng = np.random.default_rng(seed)
        sizes = rng.integers(k, 200, num_classes)  # unequal class sizes
        labels = rng.permutation(np.repeat(np.arange(num_classes), sizes)).astype(np.int32)
        pts = rng.normal(size=(len(labels), 6)).astype(np.float32) + labels[:, None]
        res = L.kmeans_per_class(jax.random.key(seed), pts, labels, num_classes, k)
        chex.assert_shape(res.centroids, (num_classes * k, 6))
        assign = np.asarray(res.assignments)
        # Every example's cluster belongs to its own class, and is its nearest centre there.
        np.testing.assert_array_equal(assign // k, labels)
        cents = np.asarray(res.centroids)
        for c in range(num_classes):
            idx = labels == c
            d2 = ((pts[idx, None] - cents[c * k : (c + 1) * k][None]) ** 2).sum(-1)
            np.testing.assert_array_equal(assign[idx], c * k + d2.argmin(1))
        np.testing.assert_allclose(res.inertia, inertia_np(pts, cents, assign), rtol=1e-3)
        sk_total = sum(
            KMeans(k, n_init=1, max_iter=20, tol=0, random_state=0).fit(pts[labels == c]).inertia_
            for c in range(num_classes)
        )
        assert float(res.inertia) <= sk_total * 1.02

    def test_class_smaller_than_k_and_missing_class(self):
        labels = np.array([0] * 30 + [1] * 2, np.int32)  # class 1 has 2 < k points, class 2 none
        pts = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
        res = L.kmeans_per_class(jax.random.key(0), pts, labels, 3, 4)
        chex.assert_tree_all_finite(res)
        assign = np.asarray(res.assignments)
        assert np.all(assign[:30] // 4 == 0) and np.all(assign[30:] // 4 == 1)

    def test_deterministic(self):
        labels = np.arange(300) % 3
        pts = np.random.default_rng(1).normal(size=(300, 4)).astype(np.float32)
        a = L.kmeans_per_class(jax.random.key(5), pts, labels, 3, 4)
        b = L.kmeans_per_class(jax.random.key(5), pts, labels, 3, 4)
        chex.assert_trees_all_equal(a, b)

    def test_traced_labels_need_max_class_size(self):
        pts = np.zeros((6, 2), np.float32)
        f = jax.jit(lambda lab: L.kmeans_per_class(jax.random.key(0), pts, lab, 2, 2).inertia)
        with self.assertRaisesRegex(ValueError, "max_class_size"):
            f(np.arange(6) % 2)
        g = jax.jit(
            lambda lab: (
                L.kmeans_per_class(jax.random.key(0), pts, lab, 2, 2, max_class_size=3).inertia
            )
        )
        assert float(g(np.arange(6) % 2)) == 0.0
