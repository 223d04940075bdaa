"""lgl_spl: data scheduling for image classification in JAX/Flax.

Self-paced learning (SPL, SPL_INV, SPLD), SPL-ADVisE and Local-to-Global
Learning. The pure functions are re-exported here::

    import lgl_spl as L
    loss, per_example = L.magnet_loss(embeddings, cluster_classes, alpha=1.0)

They load on first use, so tools that need no jax (``lgl_spl.report``) start fast.
"""

# ``lgl_spl.core.__all__``; tests/core/test_api.py keeps the two lists equal.
__all__ = [
    "LGL_STRATEGIES",
    "ClusterIndex",
    "KMeansResult",
    "Pace",
    "build_cluster_index",
    "cap_selection",
    "choose_classes",
    "class_conditional_entropies",
    "class_entropy_sums",
    "cluster_mean_losses",
    "conditional_entropy",
    "kmeans",
    "kmeans_per_class",
    "knn_accuracy",
    "magnet_loss",
    "pace",
    "pace_fraction",
    "sample_neighbourhood",
    "spl_inv_select",
    "spl_select",
    "spld_margins",
    "spld_select",
    "spld_threshold",
    "stage_sizes",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in __all__:
        from lgl_spl import core

        return getattr(core, name)
    raise AttributeError(f"module 'lgl_spl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
