"""The magnet-loss neighbourhood sampler."""

import chex
import jax
import numpy as np

import lgl_spl as L


def setup(num_classes=4, k=3, per_cluster=10, seed=0):
    rng = np.random.default_rng(seed)
    num_clusters = num_classes * k
    ids = rng.permutation(np.repeat(np.arange(num_clusters), per_cluster)).astype(np.int32)
    centroids = rng.normal(size=(num_clusters, 5)).astype(np.float32)
    classes = np.arange(num_clusters) // k
    return ids, centroids, classes


def test_shapes_classes_and_impostors():
    ids, centroids, classes = setup()
    losses = np.full(len(ids), np.nan, np.float32)
    for s in range(20):
        idx, chosen = L.sample_neighbourhood(
            jax.random.key(s),
            ids,
            centroids,
            classes,
            losses,
            num_clusters_per_batch=4,
            examples_per_cluster=5,
        )
        chex.assert_shape([idx, chosen], [(4, 5), (4,)])
        idx, chosen = np.asarray(idx), np.asarray(chosen)
        # Every row holds distinct members of its cluster.
        for row, c in zip(idx, chosen, strict=True):
            assert np.all(ids[row] == c) and len(set(row)) == 5
        seed = chosen[0]
        others = np.flatnonzero(classes != classes[seed])
        d = ((centroids[others] - centroids[seed]) ** 2).sum(-1)
        np.testing.assert_array_equal(np.sort(chosen[1:]), np.sort(others[np.argsort(d)[:3]]))


def test_seed_cluster_follows_mean_losses():
    ids, centroids, classes = setup(num_classes=3, k=2, per_cluster=20)
    losses = np.full(len(ids), np.nan, np.float32)
    losses[ids == 4] = 10.0  # cluster 4 is hard
    losses[ids == 1] = 0.0  # a scored zero is not "never scored"
    losses[(ids != 4) & (ids != 1)] = 1.0
    seeds = [
        int(
            L.sample_neighbourhood(
                jax.random.key(s),
                ids,
                centroids,
                classes,
                losses,
                num_clusters_per_batch=2,
                examples_per_cluster=2,
            )[1][0]
        )
        for s in range(400)
    ]
    counts = np.bincount(seeds, minlength=6) / 400
    assert counts[1] == 0.0  # mean loss 0 → never a seed
    np.testing.assert_allclose(counts[4], 10 / 14, atol=0.07)


def test_unscored_clusters_get_mean_of_scored():
    ids = np.repeat(np.arange(3), 4).astype(np.int32)
    losses = np.full(12, np.nan, np.float32)
    losses[:4] = 2.0
    losses[4:8] = 4.0
    means = np.asarray(L.cluster_mean_losses(losses, ids, num_clusters=4))
    np.testing.assert_allclose(means, [2.0, 4.0, 3.0, 3.0])
    chex.assert_tree_all_finite(L.cluster_mean_losses(np.full(12, np.nan), ids, num_clusters=3))


def test_small_clusters_sample_with_repeats_and_prebuilt_index():
    ids = np.array([0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2], np.int32)
    centroids = np.eye(3, dtype=np.float32)
    classes = np.array([0, 1, 2])
    index = L.build_cluster_index(ids, num_clusters=3)
    for s in range(10):
        idx, chosen = L.sample_neighbourhood(
            jax.random.key(s),
            ids,
            centroids,
            classes,
            np.ones(12, np.float32),
            num_clusters_per_batch=3,
            examples_per_cluster=4,
            index=index,
        )
        for row, c in zip(np.asarray(idx), np.asarray(chosen), strict=True):
            assert np.all(ids[row] == c)


def test_too_few_impostors_fall_back_to_seed_cluster():
    ids = np.repeat(np.arange(4), 5).astype(np.int32)
    classes = np.array([0, 0, 0, 1])  # only one other-class cluster exists
    centroids = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    _, chosen = L.sample_neighbourhood(
        jax.random.key(1),
        ids,
        centroids,
        classes,
        np.ones(20, np.float32),
        num_clusters_per_batch=3,
        examples_per_cluster=2,
    )
    chosen = np.asarray(chosen)
    assert np.sum(classes[chosen] != classes[chosen[0]]) == 1
    assert chosen[2] == chosen[0]


def test_uniform_within_cluster():
    ids = np.zeros(20, np.int32)
    ids[10:] = 1
    hits = np.zeros(20)
    for s in range(300):
        idx, _ = L.sample_neighbourhood(
            jax.random.key(s),
            ids,
            np.eye(2, dtype=np.float32),
            np.array([0, 1]),
            np.ones(20, np.float32),
            num_clusters_per_batch=2,
            examples_per_cluster=3,
        )
        np.add.at(hits, np.asarray(idx).ravel(), 1)
    np.testing.assert_allclose(hits / 300, 0.3, atol=0.09)


def test_compiles_once():
    ids, centroids, classes = setup()
    f = jax.jit(
        chex.assert_max_traces(
            lambda key, losses: L.sample_neighbourhood(
                key,
                ids,
                centroids,
                classes,
                losses,
                num_clusters_per_batch=4,
                examples_per_cluster=2,
            ),
            n=1,
        )
    )
    for s in range(3):
        f(jax.random.key(s), np.random.default_rng(s).random(len(ids)).astype(np.float32))
