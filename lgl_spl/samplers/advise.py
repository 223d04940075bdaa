"""``advise``: SPL-ADVisE (Thangarasa & Taylor 2018).

An embedding net learns a Magnet-Loss representation (Algorithm 1: neighbourhood
batches of M clusters × D examples, the seed cluster drawn by its mean stored
loss, a k-means++ cluster index refreshed every R embedding steps). The student
is trained with SPLD (Algorithm 2) whose groups are always the latest clusters.

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
import numpy as np
import optax

from lgl_spl import core, parallel
from lgl_spl import data as data_lib
from lgl_spl.errors import ConfigError
from lgl_spl.models import get_model, init_variables
from lgl_spl.samplers.base import Signals, round_rng
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.self_paced import SelfPacedSampler


class AdviseSampler(SelfPacedSampler):
    def __init__(self, cfg, ctx: SamplerContext):
        super().__init__(cfg, ctx, rule="spld")
        if ctx.feed is None or getattr(ctx.feed, "host_batches", False):
            raise ConfigError("method 'advise' needs a dataset held in memory (not imagenet2012)")
        self.m = int(cfg.clusters_per_batch)
        self.d = int(cfg.examples_per_cluster)
        self.alpha = float(cfg.alpha)
        self.refresh_every = int(cfg.refresh_every)
        self.total_steps = int(cfg.embed_steps)
        self.every = max(int(cfg.student_steps_per_embed_step), 1)
        self.schedule = cfg.schedule
        if self.schedule not in ("interleaved", "pretrain"):
            raise ConfigError(
                f"method.schedule must be 'interleaved' or 'pretrain', got {self.schedule!r}"
            )
        counts = np.bincount(ctx.labels, minlength=ctx.num_classes)
        available = (int(np.sum(counts > 0)) - 1) * self.k + 1
        if self.m > available:
            raise ConfigError(
                f"method.clusters_per_batch M={self.m} exceeds the clusters available to one "
                f"neighbourhood (1 seed + {available - 1} of other classes)"
            )
        self.num_clusters = ctx.num_classes * self.k
        self.model = get_model(
            cfg.embed_model,
            num_classes=0,
            width=float(cfg.embed_width),
            embed_dim=int(cfg.embed_dim),
        )
        self.tx = optax.adam(float(cfg.embed_lr))
        spec = data_lib.default_augment(ctx.dataset_name)
        self.spec = data_lib.AugmentSpec(mean=spec.mean, std=spec.std)  # no augmentation
        self.cluster_classes = jnp.arange(self.num_clusters) // self.k
        self._build_steps()

    # ---- device programs ----------------------------------------------------------

    def _build_steps(self):
        model, tx, spec, m, d, alpha = self.model, self.tx, self.spec, self.m, self.d, self.alpha
        classes = self.cluster_classes

        def embed(params, batch_stats, images, train):
            variables = (
                {"params": params, "batch_stats": batch_stats}
                if batch_stats
                else {"params": params}
            )
            if train:
                (out, _), upd = model.apply(variables, images, train=True, mutable=["batch_stats"])
                return out, upd.get("batch_stats", batch_stats)
            return model.apply(variables, images, train=False)[0], batch_stats

        def step(net, clusters, x, key):
            idx, chosen = core.sample_neighbourhood(
                key,
                clusters["ids"],
                clusters["centroids"],
                classes,
                clusters["losses"],
                num_clusters_per_batch=m,
                examples_per_cluster=d,
                index=core.ClusterIndex(**clusters["index"]),
            )
            images = data_lib.augment(key, x[idx.ravel()], spec, train=False)

            def loss_fn(params):
                out, stats = embed(params, net["batch_stats"], images, True)
                loss, per = core.magnet_loss(out.reshape(m, d, -1), classes[chosen], alpha=alpha)
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

        def features(net, x, idx):
            images = data_lib.augment(jax.random.key(0), x[idx], spec, train=False)
            return embed(net["params"], net["batch_stats"], images, False)[0]

        def steps(net, clusters, x, key, first, count):
            # One dispatch for a whole block of steps; step i's key depends on i alone.
            def body(i, carry):
                net, clusters = carry
                net, clusters, _ = step(net, clusters, x, jax.random.fold_in(key, first + i))
                return net, clusters

            return jax.lax.fori_loop(0, count, body, (net, clusters))

        self._steps = jax.jit(steps, donate_argnums=(0, 1))
        self._features = jax.jit(features)

    @property
    def _embed_batch(self) -> int:
        """Batches of at most 1,000, evenly filled."""
        return parallel.pass_batch_size(self.ctx.num_examples, 1000)

    def _embed_all(self, net) -> np.ndarray:
        feed, n = self.ctx.feed, self.ctx.num_examples
        size = self._embed_batch
        out = []
        for start in range(0, n, size):
            idx = np.minimum(np.arange(start, start + size), n - 1).astype(np.int32)
            out.append(np.asarray(self._features(net, feed.x, jnp.asarray(idx))))
        return np.concatenate(out)[:n]

    def _refresh(self, net, clusters, key) -> dict:
        """Algorithm 1, lines 1–2: embed everything, k-means++ per class."""
        jax.block_until_ready(net)  # embedding steps still queued are not clustering time
        with self.ctx.timed("clustering"):
            points = self._embed_all(net)
            if not np.isfinite(points).all():  # k-means would silently cluster garbage
                raise FloatingPointError(
                    "the embedding net diverged: its embeddings are not finite before the "
                    "cluster refresh; lower method.embed_lr"
                )
            res = core.kmeans_per_class(key, points, self.ctx.labels, self.ctx.num_classes, self.k)
            ids = res.assignments
            fresh = dict(
                ids=ids,
                centroids=res.centroids,
                index=core.build_cluster_index(ids, num_clusters=self.num_clusters)._asdict(),
            )
            # Same placement as the embedding steps' outputs: otherwise the first block
            # after a refresh sees new input shardings and compiles the steps twice.
            fresh = parallel.put_replicated(fresh, self.ctx.mesh)
            # Wait here (once per refresh), so k-means is timed as clustering, not as
            # the embedding steps queued behind it.
            return dict(clusters, **jax.block_until_ready(fresh))

    # ---- the sampler --------------------------------------------------------------

    def init(self) -> dict:
        ctx = self.ctx
        sample = data_lib.augment(
            jax.random.key(0), jnp.asarray(ctx.x_train[:1]), self.spec, train=False
        )
        key = jax.random.key(int(round_rng(ctx.seed, 0, 11).integers(2**31)))
        params, batch_stats = init_variables(self.model, key, sample)
        net = {"params": params, "batch_stats": batch_stats, "opt_state": self.tx.init(params)}
        n = ctx.num_examples
        clusters = {
            "ids": jnp.zeros(n, jnp.int32),
            "centroids": jnp.zeros((self.num_clusters, int(self.cfg.embed_dim)), jnp.float32),
            "index": core.build_cluster_index(
                jnp.zeros(n, jnp.int32), num_clusters=self.num_clusters
            )._asdict(),
            "losses": jnp.full(n, jnp.nan, jnp.float32),
        }
        state = super().init()
        state.update(
            net=parallel.put_replicated(net, ctx.mesh),
            clusters=parallel.put_replicated(clusters, ctx.mesh),
            embed_steps=np.asarray(0, np.int64),
            embed_forward=np.asarray(0, np.int64),
            refreshed=np.asarray(False),
        )
        return state

    def _owed(self, round_index: int) -> int:
        """Embedding steps due before round ``round_index`` is selected."""
        if self.schedule == "pretrain":
            return self.total_steps
        done_student_steps = round_index * self.ctx.steps_per_round
        return min(self.total_steps, done_student_steps // self.every)

    def _train_embedding(self, state, round_index: int) -> dict:
        state = dict(state)
        net, clusters = state["net"], state["clusters"]
        steps_done = int(state["embed_steps"])
        forward = int(state["embed_forward"])
        n = self.ctx.num_examples
        if not bool(state["refreshed"]):
            clusters = self._refresh(net, clusters, self._key(steps_done, 1))
            forward += n
        target = self._owed(round_index)
        clustering_before = self.ctx.timers["clustering"]
        step_key = self._key(0, 2)
        with self.ctx.timed("embedding"):
            while steps_done < target:
                next_refresh = (steps_done // self.refresh_every + 1) * self.refresh_every
                count = min(target, next_refresh) - steps_done
                net, clusters = self._steps(
                    net,
                    clusters,
                    self.ctx.feed.x,
                    step_key,
                    jnp.int32(steps_done),
                    jnp.int32(count),
                )
                steps_done += count
                forward += self.m * self.d * count
                if steps_done % self.refresh_every == 0:
                    clusters = self._refresh(net, clusters, self._key(steps_done, 1))
                    forward += n
            jax.block_until_ready(clusters["losses"])
        # Refreshes inside the block are clustering time, not embedding training.
        self.ctx.timers["embedding"] -= self.ctx.timers["clustering"] - clustering_before
        state.update(
            net=net,
            clusters=clusters,
            embed_steps=np.asarray(steps_done, np.int64),
            embed_forward=np.asarray(forward, np.int64),
            refreshed=np.asarray(True),
        )
        return state

    def _key(self, step: int, stream: int) -> jax.Array:
        return jax.random.key(int(round_rng(self.ctx.seed, step, 100 + stream).integers(2**31)))

    def embedding_snapshot(self, state) -> dict | None:
        """The embedding of a fixed subset of training examples (SPL-ADVisE Fig. 2's t-SNE)."""
        num = int(self.cfg.get("snapshot_examples", 1000))
        if num <= 0:
            return None
        n = self.ctx.num_examples
        subset = np.sort(round_rng(self.ctx.seed, 0, 7).permutation(n)[:num])
        size = self._embed_batch
        padded = np.resize(subset, size * -(-subset.size // size)).astype(np.int32)
        out = [
            np.asarray(self._features(state["net"], self.ctx.feed.x, jnp.asarray(chunk)))
            for chunk in padded.reshape(-1, size)  # _embed_all's batch: no new compilation
        ]
        return {
            "embeddings": np.concatenate(out)[: subset.size].astype(np.float32),
            "labels": self.ctx.labels[subset],
            "embed_steps": int(state["embed_steps"]),
        }

    def needs_signals(self, state, round_index: int) -> bool:
        return self._scores_this_round(round_index)

    def plan_round(self, state, round_index: int, signals: Signals | None):
        state = self._train_embedding(state, round_index)
        state["groups"] = np.asarray(state["clusters"]["ids"], np.int32)
        plan, state = super().plan_round(state, round_index, signals)
        plan.info.update(
            embed_steps=int(state["embed_steps"]),
            embedding_forward_passes=int(state["embed_forward"]),
        )
        return plan, state

    def _needs_groups(self, state) -> bool:
        return False  # the groups come from the embedding net
