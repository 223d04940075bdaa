"""``advise``: SPL-ADVisE (Thangarasa & Taylor 2018) on the sampler side.

The student is trained with SPLD (Algorithm 2) whose groups are the latest
k-means clusters of a Magnet-Loss embedding. That embedding is learned by a
network of its own, which the loop runs on its schedule
(``lgl_spl.train.embedding.EmbeddingLearner``); its cluster ids reach this
sampler as signals every round. Here: the method's settings (the SPLD ones and
the embedding learner's) and the checks that need the data.
"""

from __future__ import annotations

import numpy as np

from lgl_spl import settings
from lgl_spl.errors import ConfigError
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method
from lgl_spl.samplers.self_paced import CLUSTER_FIELDS, PACE_FIELDS, SelfPacedSampler

# Kept equal to lgl_spl.models.EMBEDDING_MODELS by tests/samplers/test_schema.py.
EMBEDDING_MODELS = ("lenet_embed", "vgg16_embed")

EMBEDDING_FIELDS = {
    "embed_model": settings.choice("lenet_embed", "the embedding network", EMBEDDING_MODELS),
    "embed_width": settings.number(1.0, "its channel multiplier", low=0.0, low_open=True),
    "embed_dim": settings.integer(64, "the embedding's dimension", low=1),
    "embed_lr": settings.number(1e-4, "Adam's learning rate", low=0.0, low_open=True),
    "clusters_per_batch": settings.integer(8, "M: clusters in a neighbourhood batch", low=2),
    "examples_per_cluster": settings.integer(8, "D: examples drawn from each", low=1),
    "alpha": settings.number(1.0, "the magnet loss's margin α", low=0.0),
    "refresh_every": settings.integer(500, "R: embedding steps between k-means refreshes", low=1),
    "embed_steps": settings.integer(
        2000, "E: embedding steps in all (-1: the whole run, one every k student steps)", low=-1
    ),
    "student_steps_per_embed_step": settings.integer(
        1, "k: one embedding step every k student steps (interleaved)", low=1
    ),
    "schedule": settings.choice(
        "interleaved",
        "interleaved with the student, or every step before it (the reference code)",
        ("interleaved", "pretrain"),
    ),
    "snapshot_examples": settings.integer(
        1000, "training examples embedded at each evaluation (t-SNE); 0: none", low=0
    ),
    "knn_examples": settings.integer(
        1000,
        "held-out examples whose 10-NN accuracy in the embedding is logged at each "
        "evaluation (embed_knn_accuracy, beside pixel_knn_accuracy); 0: none",
        low=0,
    ),
}

FIELDS = {**PACE_FIELDS, **CLUSTER_FIELDS, **EMBEDDING_FIELDS}


def derive(m, train, *, baseline: int, num_classes: int, num_train: int) -> None:
    """``embed_steps = -1``: one embedding step every k student steps of the whole run."""
    del train, num_classes, num_train
    if int(m.embed_steps) < 0:
        m.embed_steps = baseline // int(m.student_steps_per_embed_step)


def check_fits_data(cfg, ctx: SamplerContext) -> None:
    """M clusters must fit in one neighbourhood: the seed and M−1 clusters of other classes."""
    k, m = int(cfg.num_clusters), int(cfg.clusters_per_batch)
    counts = np.bincount(ctx.labels, minlength=ctx.num_classes)
    available = (int(np.sum(counts > 0)) - 1) * k + 1
    if m > available:
        raise ConfigError(
            f"method.clusters_per_batch M={m} exceeds the clusters available to one "
            f"neighbourhood (1 seed + {available - 1} of other classes)"
        )


def make_advise_sampler(cfg, ctx: SamplerContext) -> SelfPacedSampler:
    sampler = SelfPacedSampler(cfg, ctx, rule="spld", group_source="signals")
    check_fits_data(cfg, ctx)
    return sampler


METHODS = (
    Method(
        "advise",
        make_advise_sampler,
        FIELDS,
        doc="SPLD over k-means clusters of a Magnet-Loss embedding learned alongside",
        auxiliary=("embedding",),
        derive=derive,
        tiny={
            "num_clusters": 2,
            "clusters_per_batch": 4,
            "examples_per_cluster": 4,
            "embed_steps": 30,
            "refresh_every": 10,
            "student_steps_per_embed_step": 2,
            "embed_width": 0.25,
            "embed_dim": 8,
            "embed_lr": 1e-3,
            "snapshot_examples": 0,
        },
    ),
)
