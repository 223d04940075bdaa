"""SPL-ADVisE's embedding learner: a Magnet-Loss network trained beside the student.

Algorithm 1 of Thangarasa & Taylor (2018): neighbourhood batches of M clusters
× D examples (the seed cluster drawn by its mean stored magnet loss, its M−1
nearest clusters of other classes as impostors), and a cluster index (k-means++
per class over the embedding of every training example) refreshed every R
embedding steps. The loop runs it on its schedule and hands its cluster ids to
a plain SPLD sampler as signals (``lgl_spl.samplers.advise``).

Schedule: ``interleaved`` gives one embedding step per k student steps, on the
same devices; ``pretrain`` runs every embedding step before the student (what
the reference code does). The embedding net never looks at the student, so the
steps owed for round r are run as one block when round r ends (just before
round r + 1 is selected): the clusters the student sees are exactly those of a
step-by-step interleaving, with no host round trip per step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from lgl_spl import core, parallel
from lgl_spl import data as data_lib
from lgl_spl.errors import ConfigError
from lgl_spl.models import get_model, init_variables
from lgl_spl.samplers import round_rng, stream_key
from lgl_spl.timing import PhaseTimer
from lgl_spl.train.feeding import DeviceFeeder
from lgl_spl.train.steps import model_variables

_PASS_BATCH = 1000  # examples per forward batch when embedding the training set
_KNN_REFERENCES = 5000  # training examples the k-NN diagnostics search
_KNN_K = 10


def _magnet_step_fn(model, tx, spec, *, m: int, d: int, alpha: float, cluster_classes):
    """One embedding update on a neighbourhood batch; returns its magnet loss."""

    def step(net, clusters, x, key):
        idx, chosen = core.sample_neighbourhood(
            key,
            clusters["ids"],
            clusters["centroids"],
            cluster_classes,
            clusters["losses"],
            num_clusters_per_batch=m,
            examples_per_cluster=d,
            index=core.ClusterIndex(**clusters["index"]),
        )
        images = data_lib.augment(key, x[idx.ravel()], spec, train=False)

        def loss_fn(params):
            out, stats = _embed(model, params, net["batch_stats"], images, train=True)
            loss, per = core.magnet_loss(
                out.reshape(m, d, -1), cluster_classes[chosen], alpha=alpha
            )
            return loss, (stats, per)

        (loss, (stats, per)), grads = jax.value_and_grad(loss_fn, has_aux=True)(net["params"])
        updates, opt_state = tx.update(grads, net["opt_state"], net["params"])
        net = dict(
            net,
            params=optax.apply_updates(net["params"], updates),
            batch_stats=stats,
            opt_state=opt_state,
        )
        losses = clusters["losses"].at[idx.ravel()].set(per.ravel())
        return net, dict(clusters, losses=losses), loss

    return step


def _embed(model, params, batch_stats, images, *, train: bool):
    variables = model_variables(params, batch_stats)
    if train:
        (out, _), upd = model.apply(variables, images, train=True, mutable=["batch_stats"])
        return out, upd.get("batch_stats", batch_stats)
    return model.apply(variables, images, train=False)[0], batch_stats


class EmbeddingLearner:
    """The embedding net, its optimiser, its cluster index and its schedule.

    Its state is a pytree (checkpointed as the ``embedding`` item): the net,
    the clusters (ids, centroids, index, stored per-example magnet losses) and
    counters.
    """

    def __init__(
        self,
        cfg,
        *,
        dataset_name: str | None = None,
        feed,
        labels: np.ndarray,
        num_classes: int,
        seed: int,
        steps_per_round: int,
        mesh,
        timer: PhaseTimer,
        heldout=None,
        compute_dtype: str = "float32",
        spec: data_lib.AugmentSpec | None = None,
    ):
        """``spec``'s normalisation, or else dataset ``dataset_name``'s, applies to the images."""
        if feed is None or getattr(feed, "host_batches", False):
            raise ConfigError(
                "method 'advise' needs a dataset held in memory (not imagenet2012, nor a "
                "folder streamed from disk: raise data.in_memory_limit_mb)"
            )
        self.feed = feed
        self.labels = np.asarray(labels, np.int32)
        self.num_examples = len(self.labels)
        self.num_classes = num_classes
        self.seed = seed
        self.steps_per_round = steps_per_round
        self.mesh = mesh
        self.timer = timer
        self.k = int(cfg.num_clusters)
        self.m, self.d = int(cfg.clusters_per_batch), int(cfg.examples_per_cluster)
        self.refresh_every = int(cfg.refresh_every)
        self.total_steps = int(cfg.embed_steps)
        self.every = int(cfg.student_steps_per_embed_step)
        self.schedule = cfg.schedule
        self.embed_dim = int(cfg.embed_dim)
        self.snapshot_examples = int(cfg.snapshot_examples)
        self.heldout = heldout if int(cfg.knn_examples) > 0 else None
        self.knn_queries = min(int(cfg.knn_examples), heldout.size if heldout else 0)
        self._pixel_knn = None
        self.num_clusters = num_classes * self.k
        self.model = get_model(
            cfg.embed_model,
            num_classes=0,
            width=float(cfg.embed_width),
            embed_dim=self.embed_dim,
            compute_dtype=compute_dtype,
        )
        self.tx = optax.adam(float(cfg.embed_lr))
        spec = spec or data_lib.default_augment(dataset_name)
        self.spec = data_lib.AugmentSpec(mean=spec.mean, std=spec.std)  # no augmentation
        classes = jnp.arange(self.num_clusters) // self.k
        step = _magnet_step_fn(
            self.model, self.tx, self.spec, m=self.m, d=self.d, alpha=float(cfg.alpha),
            cluster_classes=classes,
        )  # fmt: skip

        def block(net, clusters, x, key, first, count):
            # One dispatch for a whole block of steps; step i's key depends on i alone.
            def body(i, carry):
                net, clusters, total = carry
                net, clusters, loss = step(net, clusters, x, jax.random.fold_in(key, first + i))
                return net, clusters, total + loss

            return jax.lax.fori_loop(0, count, body, (net, clusters, jnp.float32(0.0)))

        def features(net, x, idx):
            images = data_lib.augment(jax.random.key(0), x[idx], self.spec, train=False)
            return _embed(self.model, net["params"], net["batch_stats"], images, train=False)[0]

        self._block = jax.jit(block, donate_argnums=(0, 1))
        self._features = jax.jit(features)

    # ---- state ----------------------------------------------------------------------

    def init(self) -> dict:
        n, num_clusters = self.num_examples, self.num_clusters

        def build(key, sample):
            # One compiled program: op by op, the initialisers, the optimiser's zeros and
            # the empty cluster index compile dozens of small programs (the same bits).
            params, batch_stats = init_variables(self.model, key, sample)
            net = {"params": params, "batch_stats": batch_stats, "opt_state": self.tx.init(params)}
            ids = jnp.zeros(n, jnp.int32)
            clusters = {
                "ids": ids,
                "centroids": jnp.zeros((num_clusters, self.embed_dim), jnp.float32),
                "index": core.build_cluster_index(ids, num_clusters=num_clusters)._asdict(),
                "losses": jnp.full(n, jnp.nan, jnp.float32),
            }
            return net, clusters

        sample = data_lib.augment(jax.random.key(0), self.feed.x[:1], self.spec, train=False)
        net, clusters = jax.jit(build)(stream_key(self.seed, 0, 11), sample)
        return {
            "net": parallel.put_replicated(net, self.mesh),
            "clusters": parallel.put_replicated(clusters, self.mesh),
            "embed_steps": np.asarray(0, np.int64),
            "embed_forward": np.asarray(0, np.int64),
            "refreshed": np.asarray(False),
        }

    def cluster_ids(self, state) -> np.ndarray:
        return np.asarray(state["clusters"]["ids"], np.int32)

    # ---- the schedule -----------------------------------------------------------------

    def owed(self, round_index: int) -> int:
        """Embedding steps due before round ``round_index`` is selected."""
        if self.schedule == "pretrain":
            return self.total_steps
        return min(self.total_steps, round_index * self.steps_per_round // self.every)

    def advance(self, state, round_index: int) -> tuple[dict, dict]:
        """Run the steps owed before ``round_index`` (refreshing on schedule).

        Returns the new state and the facts to log: steps done, forward passes,
        and the mean magnet loss of this block (None when no step ran).
        """
        state = dict(state)
        net, clusters = state["net"], state["clusters"]
        done = int(state["embed_steps"])
        forward = int(state["embed_forward"])
        if not bool(state["refreshed"]):
            clusters = self._refresh(net, clusters, done)
            forward += self.num_examples
        target = self.owed(round_index)
        ran, losses = 0, []
        with self.timer.timed("embedding"):
            while done < target:
                next_refresh = (done // self.refresh_every + 1) * self.refresh_every
                count = min(target, next_refresh) - done
                net, clusters, total = self._block(
                    net,
                    clusters,
                    self.feed.x,
                    stream_key(self.seed, 0, 102),
                    jnp.int32(done),
                    jnp.int32(count),
                )
                losses.append(total)
                done += count
                ran += count
                forward += self.m * self.d * count
                if done % self.refresh_every == 0:
                    clusters = self._refresh(net, clusters, done)
                    forward += self.num_examples
            jax.block_until_ready(clusters["losses"])
        state.update(
            net=net,
            clusters=clusters,
            embed_steps=np.asarray(done, np.int64),
            embed_forward=np.asarray(forward, np.int64),
            refreshed=np.asarray(True),
        )
        mean_loss = float(sum(float(t) for t in losses) / ran) if ran else None
        if mean_loss is not None and not np.isfinite(mean_loss):
            raise FloatingPointError(
                f"the embedding net diverged: its magnet loss is {mean_loss} before round "
                f"{round_index}; lower method.embed_lr"
            )
        info = {
            "embed_steps": done,
            "embedding_forward_passes": forward,
            "embed_loss": mean_loss,
        }
        return state, info

    # ---- passes over the data -----------------------------------------------------------

    def embed(self, net, indices: np.ndarray) -> np.ndarray:
        """Embeddings (eval mode) of training examples ``indices``, in order."""
        size = parallel.pass_batch_size(self.num_examples, _PASS_BATCH)
        out = [
            np.asarray(self._features(net, self.feed.x, jnp.asarray(idx)))[w > 0]
            for idx, w in parallel.padded_batches(indices, size)
        ]
        return np.concatenate(out)

    def _refresh(self, net, clusters, done: int) -> dict:
        """Algorithm 1, lines 1–2: embed everything, k-means++ per class."""
        jax.block_until_ready(net)  # embedding steps still queued are not clustering time
        with self.timer.timed("clustering"):
            points = self.embed(net, np.arange(self.num_examples))
            if not np.isfinite(points).all():  # k-means would silently cluster garbage
                raise FloatingPointError(
                    "the embedding net diverged: its embeddings are not finite before the "
                    "cluster refresh; lower method.embed_lr"
                )
            key = stream_key(self.seed, done, 101)
            res = core.kmeans_per_class(key, points, self.labels, self.num_classes, self.k)
            ids = res.assignments
            fresh = dict(
                ids=ids,
                centroids=res.centroids,
                index=core.build_cluster_index(ids, num_clusters=self.num_clusters)._asdict(),
            )
            # Same placement as the embedding steps' outputs: otherwise the first block
            # after a refresh sees new input shardings and compiles the steps twice.
            fresh = parallel.put_replicated(fresh, self.mesh)
            # Wait here (once per refresh), so k-means is timed as clustering, not as
            # the embedding steps queued behind it.
            return dict(clusters, **jax.block_until_ready(fresh))

    # ---- diagnostics ----------------------------------------------------------------------

    def _knn_references(self) -> np.ndarray:
        n = self.num_examples
        return np.sort(round_rng(self.seed, 0, 13).permutation(n)[:_KNN_REFERENCES])

    def knn_accuracy(self, state) -> float | None:
        """10-NN accuracy of held-out examples among training examples, in the embedding.

        References carry the training labels the embedding learns from (noisy ones when
        the run has label noise); queries are the first ``knn_examples`` of the held-out
        split, with their true labels.
        """
        if self.heldout is None:
            return None
        refs = self._knn_references()
        queries = np.arange(self.knn_queries)
        size = parallel.pass_batch_size(self.num_examples, _PASS_BATCH)  # embed()'s: compiled
        held = [
            np.asarray(self._features(state["net"], self.heldout.x, jnp.asarray(idx)))[w > 0]
            for idx, w in parallel.padded_batches(queries, size)
        ]
        return self._knn(self.embed(state["net"], refs), np.concatenate(held), refs)

    def pixel_knn_accuracy(self) -> float | None:
        """The same 10-NN accuracy on raw pixels (the baseline an embedding should beat)."""
        if self.heldout is None:
            return None
        if self._pixel_knn is None:
            refs = self._knn_references()
            flat = lambda x: np.asarray(x).reshape(len(x), -1).astype(np.float32) / 255.0
            queries = flat(np.asarray(self.heldout.x[: self.knn_queries]))
            self._pixel_knn = self._knn(flat(np.asarray(self.feed.x)[refs]), queries, refs)
        return self._pixel_knn

    def _knn(self, references: np.ndarray, queries: np.ndarray, refs: np.ndarray) -> float:
        labels = np.asarray(self.heldout.y[: self.knn_queries])
        k = min(_KNN_K, len(refs))
        return float(
            core.knn_accuracy(
                references, self.labels[refs], queries, labels, k=k, num_classes=self.num_classes
            )
        )

    def snapshot(self, state) -> dict | None:
        """The embedding of a fixed subset of training examples (SPL-ADVisE Fig. 2's t-SNE)."""
        if self.snapshot_examples <= 0:
            return None
        n = self.num_examples
        subset = np.sort(round_rng(self.seed, 0, 7).permutation(n)[: self.snapshot_examples])
        return {
            "embeddings": self.embed(state["net"], subset).astype(np.float32),
            "labels": self.labels[subset],
            "embed_steps": int(state["embed_steps"]),
        }


def build_embedding_learner(
    x_train,
    labels=None,
    *,
    sampler=None,
    num_classes: int | None = None,
    seed: int = 0,
    steps_per_round: int | None = None,
    num_steps: int | None = None,
    mean=None,
    std=None,
    heldout: tuple | None = None,
    num_devices: int = 0,
    compute_dtype: str = "float32",
    **settings,
) -> EmbeddingLearner:
    """SPL-ADVisE's embedding learner over arrays, with no project config.

    Either ``sampler`` (an ``advise`` sampler from :func:`lgl_spl.build_sampler`,
    whose labels, seed, round length and settings it shares) or ``labels`` with
    ``steps_per_round`` (the student's updates per round) and the ``advise``
    settings as keywords (``embed_steps``, ``refresh_every``, …; docs/design.md §3).
    Then, each round: ``state, info = learner.advance(state, r)`` runs the embedding
    steps owed before round r, and ``learner.cluster_ids(state)`` are the sampler's
    ``groups``. ``snapshot(state)`` embeds a fixed subset (for a t-SNE).

    Args:
      x_train: [N, H, W, C] uint8 images (normalised by ``mean``/``std`` in [0, 1]
        units, by default the data's per-channel statistics) or float arrays (as is).
      heldout: optional (x, y) arrays for ``knn_accuracy``.
      num_devices: the devices the learner's arrays are replicated on (0: all).
    """
    from lgl_spl.samplers import advise, functional

    if sampler is not None:
        if labels is not None or settings:
            raise ConfigError("pass either an advise sampler or labels and settings, not both")
        if sampler.name != "advise":
            raise ConfigError(
                f"the embedding learner is SPL-ADVisE's; got a {sampler.name!r} sampler"
            )
        labels, num_classes, seed = sampler.labels, sampler.num_classes, sampler.seed
        steps_per_round, num_steps = sampler.steps_per_round, sampler.num_steps
        cfg = sampler.settings
    else:
        if labels is None or steps_per_round is None:
            raise ConfigError(
                "the embedding learner needs labels and steps_per_round (or a sampler)"
            )
        cfg = functional.method_settings("advise", **settings)
    y, c = functional.check_labels(labels, num_classes)
    x = np.asarray(x_train)
    if len(x) != len(y):
        raise ConfigError(f"x_train has {len(x)} examples but labels has {len(y)}")
    if int(cfg.embed_steps) < 0:  # the whole run: derived as the project's runs derive it
        if num_steps is None:
            raise ConfigError("embed_steps=-1 (the whole run) needs num_steps")
        block = ml_collections.ConfigDict(cfg.to_dict())
        advise.derive(block, None, baseline=int(num_steps), num_classes=c, num_train=len(y))
        cfg = functional.method_settings(block.to_dict())
    spec = data_lib.normalisation_of(x, mean, std)
    mesh = parallel.make_mesh(num_devices)
    held = None
    if heldout is not None:
        hx, hy = heldout
        held = DeviceFeeder(np.asarray(hx), np.asarray(hy, np.int32), mesh)
    return EmbeddingLearner(
        cfg,
        feed=DeviceFeeder(x, y, mesh),
        labels=y,
        num_classes=c,
        seed=int(seed),
        steps_per_round=int(steps_per_round),
        mesh=mesh,
        timer=PhaseTimer(),
        heldout=held,
        compute_dtype=compute_dtype,
        spec=spec,
    )
