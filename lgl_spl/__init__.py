"""lgl_spl: data scheduling for image classification in JAX/Flax.

Self-paced learning (SPL, SPL_INV, SPLD), SPL-ADVisE and Local-to-Global
Learning. The pure functions are re-exported here::

    import lgl_spl as L
    loss, per_example = L.magnet_loss(embeddings, cluster_classes, alpha=1.0)

The samplers, driven from a training loop of your own (docs/design.md §9)::

    sampler = L.build_sampler("spld", labels=y_train, batch_size=64, num_steps=2000)
    plan, state = sampler.plan(state, r, **L.compute_signals(predict, x, y, wanted))

They load on first use, so tools that need no jax (``lgl_spl.report``) start fast.
"""

# The public API beyond the pure functions: name -> the module that defines it.
_API = {
    "EmbeddingLearner": "lgl_spl.train.embedding",
    "IrreducibleLoss": "lgl_spl.train.irreducible",
    "build_irreducible_loss": "lgl_spl.train.irreducible",
    "split_holdout": "lgl_spl.train.irreducible",
    "PruneScores": "lgl_spl.train.pruning_scores",
    "build_prune_scores": "lgl_spl.train.pruning_scores",
    # Writing a method (docs/design.md, "Writing a method"): the declaration, the sampler
    # protocol and what a sampler is handed and returns, the settings' constructors and
    # the helpers the package's own samplers use.
    "Method": "lgl_spl.samplers.method",
    "register_method": "lgl_spl.samplers.registry",
    "BUILT_IN": "lgl_spl.samplers.registry",
    "get_method": "lgl_spl.samplers.registry",
    "LossTransform": "lgl_spl.core.loss_transform",
    "LossBatch": "lgl_spl.core.loss_transform",
    "Trained": "lgl_spl.samplers.base",
    "Sampler": "lgl_spl.samplers.base",
    "SamplerContext": "lgl_spl.samplers.context",
    "StepSelector": "lgl_spl.samplers.base",
    "Proxy": "lgl_spl.samplers.base",
    "fill_round": "lgl_spl.samplers.base",
    "round_rng": "lgl_spl.samplers.base",
    "integer": "lgl_spl.settings",
    "number": "lgl_spl.settings",
    "choice": "lgl_spl.settings",
    "flag": "lgl_spl.settings",
    "text": "lgl_spl.settings",
    "FunctionalSampler": "lgl_spl.samplers.functional",
    "RoundPlan": "lgl_spl.samplers.base",
    "SignalError": "lgl_spl.errors",
    "Signals": "lgl_spl.samplers.base",
    "build_embedding_learner": "lgl_spl.train.embedding",
    "build_sampler": "lgl_spl.samplers.functional",
    "class_entropies": "lgl_spl.signals",
    "classifier_path": "lgl_spl.models.heads",
    "compute_signals": "lgl_spl.signals",
    "per_example_losses": "lgl_spl.signals",
    "reinit_classes": "lgl_spl.models.heads",
}

# ``lgl_spl.core.__all__``; tests/core/test_api.py keeps the two lists equal.
_CORE = [
    "Candidates",
    "ClusterIndex",
    "KMeansResult",
    "LGL_STRATEGIES",
    "Pace",
    "build_cluster_index",
    "cap_selection",
    "choose_classes",
    "class_conditional_entropies",
    "class_entropy_sums",
    "cluster_mean_losses",
    "conditional_entropy",
    "coverage_centric",
    "el2n",
    "forgetting_init",
    "forgetting_scores",
    "forgetting_update",
    "grad_norms",
    "highest_loss",
    "highest_scores",
    "infobatch_prune",
    "keep_by_score",
    "keep_first",
    "kmeans",
    "kmeans_per_class",
    "knn_accuracy",
    "lambertw",
    "lowest_loss",
    "lowest_scores",
    "magnet_loss",
    "pace",
    "pace_fraction",
    "reducible_loss",
    "sample_neighbourhood",
    "score_candidates",
    "select_candidates",
    "spl_inv_select",
    "spl_select",
    "spld_margins",
    "spld_select",
    "spld_threshold",
    "stage_sizes",
    "superloss",
    "superloss_confidence",
]
__all__ = [*_CORE, *_API]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    if name in _CORE:
        from lgl_spl import core

        return getattr(core, name)
    raise AttributeError(f"module 'lgl_spl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
