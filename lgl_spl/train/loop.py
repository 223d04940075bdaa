"""The host loop: rounds of sampler plans, jitted steps, evaluation, checkpoints, metrics."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lgl_spl import data as data_lib
from lgl_spl import models, parallel
from lgl_spl.errors import ConfigError
from lgl_spl.samplers import RoundPlan, SamplerContext, Signals, make_sampler
from lgl_spl.train.checkpoints import Checkpoints
from lgl_spl.train.feeding import make_feeder
from lgl_spl.train.metrics import MetricsWriter, Progress
from lgl_spl.train.state import TrainState, create_train_state, make_optimizer, make_schedule
from lgl_spl.train.steps import Steps, make_steps
from lgl_spl.train.validate import (
    check_workdir,
    validate_config,
    validate_devices,
    validate_run,
)

# Config keys that may change between an interrupted run and its resumption
# without changing its results.
_RESUME_SAFE_KEYS = ("train.log_every", "train.checkpoint_every", "data.data_dir", "data.npz_path")


class _Preempted(Exception):
    pass


@jax.jit
def _all_finite(tree) -> jax.Array:
    """Whether every floating-point leaf of ``tree`` is finite (one device reduction)."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves] or [jnp.bool_(True)]))


def _flatten(cfg, prefix="") -> dict[str, Any]:
    out = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if hasattr(value, "items"):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def config_fingerprint(config) -> dict[str, Any]:
    """The config's values that decide the results (compared on resume)."""
    flat = _flatten(config)
    return {k: v for k, v in sorted(flat.items()) if k not in _RESUME_SAFE_KEYS}


class _Loop:
    """One run. Kept as an object so the steps' pieces stay named and short."""

    def __init__(self, config, workdir: str):
        self.config = config
        self.workdir = workdir
        validate_devices(config, len(jax.devices()))  # before the (slow) data load
        self.mesh = parallel.make_mesh(int(config.train.get("num_devices", 0)))
        self.leader = parallel.is_leader()
        self.dataset = data_lib.load(config.data, seed=config.seed)
        validate_run(config, self.dataset, self.mesh.size)
        self.batch = int(config.train.batch_size)
        self.num_train = int(self.dataset.y_train.shape[0])
        self.steps_per_round = -(-self.num_train // self.batch)
        self.num_classes = int(self.dataset.num_classes)

        spec = data_lib.default_augment(config.data.name, config.data.augment)
        self.model = models.get_model(
            config.model.name,
            num_classes=self.num_classes,
            width=float(config.model.width),
            **dict(config.model.kwargs),
        )
        self.tx = make_optimizer(config.train)
        self.schedule = make_schedule(config.train)
        ds = self.dataset
        self.train_feed = make_feeder(ds.x_train, ds.y_train, ds.train_source, self.mesh)
        self.test_feed = make_feeder(ds.x_test, ds.y_test, ds.test_source, self.mesh)
        self.val_feed = make_feeder(ds.x_val, ds.y_val, None, self.mesh) if len(ds.y_val) else None
        self.steps: Steps = make_steps(
            self.model,
            self.tx,
            self.schedule,
            spec,
            self.mesh,
            host_batches=self.train_feed.host_batches,
        )
        self.ctx = SamplerContext(
            num_examples=self.num_train,
            num_classes=self.num_classes,
            batch_size=self.batch,
            seed=int(config.seed),
            num_steps=int(config.train.num_steps),
            labels=np.asarray(ds.y_train, np.int32),
            x_train=ds.x_train if ds.train_source is None else None,
            dataset_name=config.data.name,
            feed=self.train_feed,
            mesh=self.mesh,
        )
        self.sampler = make_sampler(config.method, self.ctx)

        key = jax.random.key(int(config.seed))
        self.init_key, self.step_key = jax.random.split(key)
        first = ds.train_source.gather([0]) if ds.train_source is not None else ds.x_train[:1]
        sample = data_lib.augment(jax.random.key(0), jnp.asarray(first), spec, train=False)
        state = create_train_state(self.model, self.tx, self.init_key, sample)
        self.state: TrainState = parallel.put_replicated(state, self.mesh)
        self.step_key = parallel.put_replicated(self.step_key, self.mesh)
        self.sampler_state = self.sampler.init()
        self.plan: RoundPlan | None = None
        self.round = -1
        self.extra_forward = 0  # forward passes spent outside student training
        self.loss_sum = 0.0
        self.loss_weight = 0.0

    # ---- evaluation and scoring -------------------------------------------------

    def _batches(self, n: int):
        # Evenly filled: two batches of 1,000 for 1,438 examples would spend 28 % of the
        # forward passes on padding.
        size = parallel.pass_batch_size(n, int(self.config.train.eval_batch_size), self.mesh.size)
        for start in range(0, n, size):
            idx = np.arange(start, start + size)
            weights = (idx < n).astype(np.float32)
            yield np.minimum(idx, n - 1).astype(np.int32), weights

    def evaluate(self, feed, class_mask) -> tuple[float, float]:
        mask = parallel.put_replicated(class_mask, self.mesh)
        totals = {"correct": 0.0, "loss": 0.0, "count": 0.0}
        for idx, w in self._batches(feed.size):
            out = self.steps.evaluate(
                self.state, *feed.batch(idx), parallel.put_batch(w, self.mesh), mask
            )
            for k in totals:
                totals[k] += float(out[k])
        return totals["correct"] / totals["count"], totals["loss"] / totals["count"]

    def score_training_set(self, class_mask) -> Signals:
        with self.ctx.timed("scoring"):
            return self._score_training_set(class_mask)

    def _score_training_set(self, class_mask) -> Signals:
        mask = parallel.put_replicated(class_mask, self.mesh)
        parts = {"loss": [], "logits": [], "features": []}
        for idx, w in self._batches(self.num_train):
            out = self.steps.score(self.state, *self.train_feed.batch(idx), mask)
            keep = w > 0
            for k in parts:
                parts[k].append(parallel.to_host(out[k])[keep])
        self.extra_forward += self.num_train
        return Signals(
            losses=np.concatenate(parts["loss"]),
            logits=np.concatenate(parts["logits"]),
            features=np.concatenate(parts["features"]),
            labels=np.asarray(self.dataset.y_train, np.int32),
        )

    # ---- rounds -----------------------------------------------------------------

    def start_round(self, round_index: int) -> None:
        # Let queued student steps finish, so the phases timed below are their own.
        jax.block_until_ready(self.state)
        signals = None
        if self.sampler.needs_signals(self.sampler_state, round_index):
            mask = (
                self.plan.class_mask if self.plan is not None else np.ones(self.num_classes, bool)
            )
            signals = self.score_training_set(mask)
        self.plan, self.sampler_state = self.sampler.plan_round(
            self.sampler_state, round_index, signals
        )
        self.round = round_index
        if self.plan.reinit_classes is not None and self.plan.reinit_classes.any():
            key = jax.random.fold_in(self.init_key, round_index)
            self.state = self._reinit_head(
                self.state, parallel.put_replicated(self.plan.reinit_classes, self.mesh), key
            )

    # ---- checkpoints ------------------------------------------------------------

    def _checkpoint_tree(self) -> dict:
        return {
            "train": self.state,
            "sampler": self.sampler_state,
            "plan": {
                "indices": self.plan.indices,
                "weights": self.plan.weights,
                "class_mask": self.plan.class_mask,
            },
            "meters": {
                "loss_sum": np.float64(self.loss_sum),
                "loss_weight": np.float64(self.loss_weight),
                "extra_forward": np.int64(self.extra_forward),
            },
        }

    def _meta(self, step: int) -> dict:
        return {
            "step": step,
            "round": self.round,
            "schedule_start": int(self.plan.schedule_start),
            "schedule_scale": float(self.plan.schedule_scale),
            "info": self.plan.info,
            "config": config_fingerprint(self.config),
        }

    def save(self, ckpt: Checkpoints, step: int) -> None:
        with self.ctx.timed("checkpointing"):
            ckpt.save(step, self._checkpoint_tree(), self._meta(step))

    def restore(self, ckpt: Checkpoints, step: int, allow_config_change: bool) -> None:
        like_plan = {
            "indices": np.zeros((self.steps_per_round, self.batch), np.int32),
            "weights": np.zeros((self.steps_per_round, self.batch), np.float32),
            "class_mask": np.zeros(self.num_classes, bool),
        }
        like = self._checkpoint_tree_like(like_plan)
        # The config is compared before the arrays are read: a changed config is
        # reported as such, not as a shape mismatch deep inside orbax.
        if not allow_config_change:
            _refuse_changed_config(self.config, self.workdir, ckpt.restore_meta(step)["config"])
        tree, meta = ckpt.restore(step, like)
        self.state = tree["train"]
        self.sampler_state = tree["sampler"]
        self.plan = RoundPlan(
            indices=np.asarray(tree["plan"]["indices"]),
            weights=np.asarray(tree["plan"]["weights"]),
            class_mask=np.asarray(tree["plan"]["class_mask"]),
            schedule_start=int(meta["schedule_start"]),
            info=meta["info"],
            schedule_scale=float(meta["schedule_scale"]),
        )
        self.round = int(meta["round"])
        self.loss_sum = float(tree["meters"]["loss_sum"])
        self.loss_weight = float(tree["meters"]["loss_weight"])
        self.extra_forward = int(tree["meters"]["extra_forward"])

    def _checkpoint_tree_like(self, plan: dict) -> dict:
        return {
            "train": self.state,
            "sampler": self.sampler_state,
            "plan": plan,
            "meters": {
                "loss_sum": np.float64(0),
                "loss_weight": np.float64(0),
                "extra_forward": np.int64(0),
            },
        }

    # ---- the run ----------------------------------------------------------------

    def eval_row(self, step: int, t0: float) -> dict:
        mask = self.plan.class_mask
        test_acc, test_loss = self.evaluate(self.test_feed, mask)
        row = {
            "step": step,
            "round": self.round,
            "test_accuracy": test_acc,
            "test_loss": test_loss,
            "train_loss": self.loss_sum / self.loss_weight if self.loss_weight else None,
            "lr": float(self.schedule(self._schedule_step(step))),
            "scoring_forward_passes": self.extra_forward,
            "extra_forward_passes": self.extra_forward
            + int(self.plan.info.get("embedding_forward_passes", 0)),
            "wall_time": time.time() - t0,
        }
        if self.val_feed is not None:
            row["val_accuracy"], row["val_loss"] = self.evaluate(self.val_feed, mask)
        if self.config.train.get("eval_train_loss", False):
            # The loss on every training example and class, whatever the method trained on
            # (LGL Fig. 2); an evaluation pass, not counted as extra training compute.
            every_class = np.ones(self.num_classes, bool)
            _, row["full_train_loss"] = self.evaluate(self.train_feed, every_class)
        row.update(self.plan.info)
        return row

    def run(self, allow_config_change: bool) -> dict | None:
        cfg = self.config.train
        num_steps = int(cfg.num_steps)
        eval_every = int(cfg.eval_every)
        ckpt_every = int(cfg.checkpoint_every) or eval_every
        ckpt = Checkpoints(os.path.join(self.workdir, "checkpoints"))
        start = ckpt.latest_step() or 0
        if start:
            self.restore(ckpt, start, allow_config_change)
            self._log(f"resumed from the checkpoint at step {start} (round {self.round})")
        self.write_run_files()  # only now: a refused resume leaves the workdir's files alone
        writer = MetricsWriter(self.workdir, resume_step=start, enabled=self.leader)
        progress = Progress(num_steps, int(cfg.log_every), start_step=start, enabled=self.leader)
        preemption = parallel.PreemptionWatch()
        preemption.start()
        if start == 0:
            self.write_embedding_snapshot(0)
        t0 = time.time()
        last_row = None
        mask_dev = None
        pending = []  # device scalars, summed on the host at evaluation time
        try:
            step = start
            while step < num_steps:
                round_index = step // self.steps_per_round
                if self.plan is None or round_index != self.round:
                    self.start_round(round_index)
                    mask_dev = None
                if mask_dev is None:
                    mask_dev = parallel.put_replicated(self.plan.class_mask, self.mesh)
                i = step - round_index * self.steps_per_round
                self.state, out = self.steps.train(
                    self.state,
                    *self.train_feed.batch(self.plan.indices[i]),
                    parallel.put_batch(self.plan.weights[i], self.mesh),
                    self.step_key,
                    jnp.float32(self._schedule_step(step)),
                    mask_dev,
                )
                pending.append((out["loss"], out["weight"]))
                step += 1
                stop = preemption.reached(step)
                boundary = step % eval_every == 0 or step == num_steps
                if boundary or step % ckpt_every == 0 or stop:
                    self._drain(pending, step)
                if boundary:
                    with self.ctx.timed("evaluation"):
                        last_row = self.eval_row(step, t0)
                    writer.write(last_row)
                    self.write_embedding_snapshot(step)
                    self.loss_sum = self.loss_weight = 0.0
                progress.update(step, self.round, last_row and last_row["train_loss"])
                if boundary or step % ckpt_every == 0 or stop:
                    self.save(ckpt, step)
                if stop:
                    raise _Preempted(step)
        except _Preempted as e:
            self._log(f"SIGTERM: checkpoint saved at step {e.args[0]}; re-run to resume")
            raise SystemExit(143) from None
        finally:
            self._write_timing(t0)
            preemption.stop()
            writer.close()
            ckpt.close()
        return last_row

    def write_embedding_snapshot(self, step: int) -> None:
        """``DIR/embeddings/step_N.npz`` for samplers with an embedding net (ADVisE)."""
        snapshot = getattr(self.sampler, "embedding_snapshot", None)
        if snapshot is None:
            return
        with self.ctx.timed("evaluation"):
            arrays = snapshot(self.sampler_state)
        if arrays is None or not self.leader:
            return
        directory = os.path.join(self.workdir, "embeddings")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"step_{step:08d}.npz")
        np.savez(path + ".tmp.npz", student_step=step, **arrays)
        os.replace(path + ".tmp.npz", path)  # never a half-written snapshot

    def write_run_files(self) -> None:
        """``config.json`` and ``run_info.json`` of the run (written by the leader)."""
        if not self.leader:
            return
        with open(os.path.join(self.workdir, "config.json"), "w") as f:
            json.dump(_flatten(self.config), f, indent=1, sort_keys=True)
        with open(os.path.join(self.workdir, "run_info.json"), "w") as f:
            json.dump(self.run_info(), f, indent=1)

    def run_info(self) -> dict:
        """Facts about the run that the config alone does not give (for reports)."""
        return {
            "dataset": self.config.data.name,
            "label_names": list(self.dataset.label_names),
            "num_classes": self.num_classes,
            "num_train": self.num_train,
            "num_test": int(self.dataset.y_test.shape[0]),
            "num_val": int(self.dataset.y_val.shape[0]),
            "steps_per_round": self.steps_per_round,
            "batch_size": self.batch,
            "num_devices": int(self.mesh.size),
            "num_processes": int(jax.process_count()),
        }

    def _schedule_step(self, step: int) -> float:
        return (step - self.plan.schedule_start) * self.plan.schedule_scale

    @staticmethod
    @jax.jit
    def _reinit_head(state: TrainState, classes: jax.Array, key: jax.Array) -> TrainState:
        """Fresh head rows for newly added classes (LGL): Dense's default init, zero bias."""
        head = state.params["head"]
        fresh = jax.nn.initializers.lecun_normal()(key, head["kernel"].shape)
        new_head = dict(
            head,
            kernel=jnp.where(classes[None, :], fresh, head["kernel"]),
            bias=jnp.where(classes, 0.0, head["bias"]),
        )
        return state.replace(params=dict(state.params, head=new_head))

    def _drain(self, pending: list, step: int) -> None:
        """Sum the pending losses on the host; stop before saving if training diverged."""
        for offset, (loss, weight) in enumerate(pending):
            loss, w = float(loss), float(weight)
            if not np.isfinite(loss):
                bad = step - len(pending) + offset + 1
                raise FloatingPointError(
                    f"training diverged: the train loss is {loss} at step {bad}; the last "
                    f"good checkpoint is kept in {self.workdir}/checkpoints"
                )
            self.loss_sum += loss * w
            self.loss_weight += w
        pending.clear()
        # A step's loss is computed before its update: the last update can still have
        # blown the weights up. Never checkpoint (or evaluate) non-finite weights.
        if not bool(np.asarray(_all_finite(self.state).addressable_data(0))):
            raise FloatingPointError(
                f"training diverged: the model's weights are not finite after step {step}; "
                f"the last good checkpoint is kept in {self.workdir}/checkpoints"
            )

    def _write_timing(self, t0: float) -> None:
        """Wall time by phase (kept out of metrics.jsonl, which must replay exactly)."""
        if not self.leader:
            return
        timing = dict(self.ctx.timers)
        timing["total"] = time.time() - t0
        timing["student_training"] = timing["total"] - sum(self.ctx.timers.values())
        with open(os.path.join(self.workdir, "timing.json"), "w") as f:
            json.dump(timing, f, indent=1)

    def _log(self, message: str) -> None:
        if self.leader:
            print(message, file=sys.stderr, flush=True)


def _refuse_changed_config(config, workdir: str, saved: dict) -> None:
    """ConfigError naming the keys whose values differ from the checkpoint's config."""
    now = config_fingerprint(config)
    changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    if changed:
        raise ConfigError(
            f"the checkpoint in {workdir} was made with a different config "
            f"({', '.join(f'{k}: {saved.get(k)!r} -> {now.get(k)!r}' for k in changed[:5])}); "
            "resume with the original config, use a new --workdir, or pass "
            "--allow_config_change to continue anyway"
        )


def _check_resumable(config, workdir: str) -> None:
    """Refuse a changed config before the (slow) data and model set-up, not after it."""
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        return
    ckpt = Checkpoints(directory)
    try:
        step = ckpt.latest_step()
        if step:
            _refuse_changed_config(config, workdir, ckpt.restore_meta(step)["config"])
    finally:
        ckpt.close()


def train_and_evaluate(config, workdir: str, *, allow_config_change: bool = False) -> dict | None:
    """Train one run from ``config`` in ``workdir`` (resuming if it has a checkpoint).

    Returns the last evaluation row (the one written to ``metrics.jsonl``).
    """
    validate_config(config)
    check_workdir(workdir)
    parallel.maybe_initialize_distributed()
    if not allow_config_change:
        _check_resumable(config, workdir)
    loop = _Loop(config, workdir)
    return loop.run(allow_config_change)
