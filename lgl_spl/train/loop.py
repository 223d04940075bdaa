"""``train_and_evaluate``: one run, top to bottom.

Set-up (data, model, method) is :mod:`lgl_spl.train.experiment`; what is carried
from step to step and checkpointed is :class:`~lgl_spl.train.run_state.RunState`;
passes over a split are the :class:`~lgl_spl.train.evaluator.Evaluator`'s; files
are the :class:`~lgl_spl.train.writers.Writers`'. Here: the rounds (the method's
plan, then the round's jitted student steps) as two loops, the periodic actions
(:mod:`lgl_spl.train.actions`: evaluate, round record, log line, checkpoint) after each
step when they are due.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from lgl_spl import compile_cache, models, parallel
from lgl_spl.errors import UserCodeError, write_error_log
from lgl_spl.lock import claim_workdir
from lgl_spl.samplers import Signals, get_method
from lgl_spl.settings import flatten
from lgl_spl.train import console, resume
from lgl_spl.train.actions import At, Checkpoint, Evaluate, LogLine, RecordRound
from lgl_spl.train.auxiliary import provided
from lgl_spl.train.checkpoints import Checkpoints, kept_note
from lgl_spl.train.console import Progress
from lgl_spl.train.experiment import Experiment, build_experiment
from lgl_spl.train.run_state import RunState
from lgl_spl.train.steps import StepBatch
from lgl_spl.train.validate import validate_config, validate_devices
from lgl_spl.train.writers import Writers


class _Preempted(Exception):
    pass


def train_and_evaluate(config, workdir: str, *, allow_config_change: bool = False) -> dict | None:
    """Train one run from ``config`` in ``workdir`` (resuming if it has a checkpoint).

    Returns the last evaluation row (the one written to ``metrics.jsonl``).
    """
    validate_config(config)
    parallel.maybe_initialize_distributed()
    lock = claim_workdir(workdir, leader=parallel.is_leader())  # one run per workdir
    try:
        return _run(config, workdir, allow_config_change)
    except UserCodeError as e:
        if lock is not None:  # the leader: its workdir is its own
            e.log_path = write_error_log(workdir, e)
        raise
    finally:
        if lock is not None:
            lock.release()


def _run(config, workdir: str, allow_config_change: bool) -> dict | None:
    cache = compile_cache.enable(config.train.compilation_cache)
    if not allow_config_change:
        resume.check_resumable(config, workdir)  # before the slow set-up, not after it
    validate_devices(config, len(jax.devices()))  # before the (slow) data load
    exp = build_experiment(config)
    rs = exp.initial_state()
    ckpt = Checkpoints(os.path.join(workdir, "checkpoints"))
    start, rs = _restore(exp, rs, ckpt, workdir, allow_config_change)
    _describe(exp, workdir, start, rs)
    if cache:
        console.info(
            f"compilation cache: {cache}, {compile_cache.entries()} programs "
            "(train.compilation_cache='off' turns it off)"
        )
    writers = Writers(workdir, resume_step=start, enabled=parallel.is_leader())
    # Only now: a refused resume leaves the workdir's files alone.
    writers.run_files(flatten(exp.config), exp.run_info())  # the resolved config
    writers.label_noise(exp.dataset)
    if start == 0:
        _snapshots(exp, rs, 0, writers)
    t0 = time.time()
    rows: list[dict] = []
    preemption = parallel.PreemptionWatch(
        on_second=lambda: kept_note(ckpt.directory, failure=False)
    )
    preemption.start()
    try:
        final = _train(exp, rs, start, ckpt, writers, preemption, rows, t0)
    except _Preempted as e:
        console.info(
            f"{preemption.name}: checkpoint saved at step {e.args[0]} in {ckpt.directory}; "
            "re-run the same command to resume"
        )
        raise SystemExit(preemption.exit_code) from None
    finally:
        preemption.stop()
        writers.timing(dict(exp.timer.totals), time.time() - t0)
        writers.close()
        ckpt.close()
    # The run is finished: say at which step (a run of short rounds ends before num_steps).
    writers.run_info({**exp.run_info(), "final_step": final})
    _summarize(exp, workdir, rows, writers, time.time() - t0)
    return rows[-1] if rows else None


def _train(exp: Experiment, rs: RunState, start: int, ckpt, writers, preemption, rows, t0) -> int:
    """The rounds and their steps from ``start`` to the run's end; the step it ended at."""
    progress = Progress(exp.num_steps, int(exp.config.train.log_every), start_step=start)
    actions = _actions(exp, rs, ckpt, writers, rows, t0, progress)
    log_line = next(a for a in actions if isinstance(a, LogLine))
    files = _AuxiliaryFiles(exp, writers)
    pending: list[dict] = []  # the metrics of steps not yet read from the devices
    step = start
    if not _finished(exp, rs, step):
        console.info("compiling the train step (the first steps are slower)")
    # A resumed run continues the round it was in, unless it stopped at that round's end.
    first = 0 if rs.plan is None else rs.round + int(step == rs.round_end)
    for round_index in range(first, exp.num_rounds):
        if step >= exp.num_steps:
            break
        if rs.plan is None or rs.round != round_index:
            start_round(exp, rs, round_index, first_step=step)
            files.write(rs)
        with contextlib.closing(round_steps(exp, rs, step)) as steps:
            for step, arguments in steps:
                rs.train, metrics = exp.steps.train(rs.train, *arguments)
                pending.append(metrics)
                step += 1
                finished = _finished(exp, rs, step)
                at = At(step, step == rs.round_end or finished, finished, preemption.reached(step))
                due = [action for action in actions if action.due(at)]
                if due and pending:
                    _drain(pending, rs, step, ckpt.directory)
                log_line.logged = (None, None)
                for action in due:
                    action(at)
                progress.update(step, rs.round, *log_line.logged)
                if at.stopping:
                    raise _Preempted(step)
    return step


def round_steps(exp: Experiment, rs: RunState, step: int):
    """The current round's steps from ``step`` to its end (or the run's): ``(step, the train
    step's arguments)``, the round's class mask and per-example inputs put on the devices
    once."""
    mask = parallel.put_replicated(rs.plan.class_mask, exp.mesh)
    per_example = exp.step_inputs(rs) or {}
    first = rs.round_start
    stop = min(len(rs.plan.indices), exp.num_steps - first)
    batches = exp.train_feed.round_batches(
        rs.plan.indices, first_step=first, start=step - first, stop=stop, weights=rs.plan.weights
    )
    try:
        for s in range(step, first + stop):
            with exp.timer.timed("input"):
                batch = StepBatch(*next(batches))
            # The schedule step as numpy: jit places it, cheaper than jnp's.
            yield s, (batch, exp.step_key, np.float32(rs.schedule_step(s)), mask, per_example)
    finally:
        batches.close()  # a host stream's decoding workers


def _finished(exp: Experiment, rs: RunState, step: int) -> bool:
    """The run's end: its steps, or its last round's end when rounds may be short."""
    if step >= exp.num_steps:
        return True
    return rs.plan is not None and rs.round >= exp.num_rounds - 1 and step == rs.round_end


def _actions(exp: Experiment, rs: RunState, ckpt, writers, rows, t0, progress) -> list:
    """The periodic actions, in the order they run after a step (``train/actions.py``)."""
    train = exp.config.train

    def evaluation(step: int) -> None:
        rows.append(evaluate(exp, rs, step, t0))
        writers.evaluation(rows[-1])
        _snapshots(exp, rs, step, writers)

    def log(step: int) -> tuple[float | None, float]:
        lr = float(exp.schedule(rs.schedule_step(step)))
        loss = rs.meters.take("log")
        writers.scalars(step, {"train_loss": loss, "lr": lr, **_selected(rs)})
        return loss, lr

    def checkpoint(step: int) -> None:
        with exp.timer.timed("checkpointing"):
            ckpt.save(step, rs.tree(), rs.meta(step, exp.fingerprint))

    every = Evaluate(int(train.eval_every), evaluation)
    return [
        every,
        RecordRound(lambda step: writers.round(_round_row(exp, rs, step))),
        LogLine(progress, log),
        Checkpoint(every, int(train.checkpoint_every) or every.every, checkpoint),
    ]


class _AuxiliaryFiles:
    """The auxiliary learners' files (``scores.npz``), written once each per process."""

    def __init__(self, exp: Experiment, writers):
        self.exp, self.writers, self.written = exp, writers, set()

    def write(self, rs: RunState) -> None:
        for aux in self.exp.auxiliaries:
            files = getattr(aux, "files", None)
            for name, arrays in (files(rs.aux[aux.name]) if files else {}).items():
                if name not in self.written:
                    self.writers.npz(name, arrays)
                    self.written.add(name)


def _snapshots(exp: Experiment, rs: RunState, step: int, writers) -> None:
    """Each auxiliary learner's arrays at an evaluation (ADVisE's embedding for t-SNE)."""
    for aux in exp.auxiliaries:
        with exp.timer.timed("evaluation"):
            writers.snapshot(step, aux.snapshot(rs.aux[aux.name]))


def start_round(exp: Experiment, rs: RunState, round_index: int, *, first_step: int) -> None:
    """Round set-up: the auxiliary learners' owed steps, the scoring pass, the method's plan.

    Forward passes are counted where they happen: the scoring pass's here, the auxiliary
    learners' by themselves, a step-level selector's candidates by the step. A method
    with step signals is handed what the previous round's steps trained on.
    """
    jax.block_until_ready(rs.train)  # queued student steps are not set-up time
    exp.timer.start_round()
    labels = exp.dataset.y_train
    learned, signals = {}, None
    for aux in exp.auxiliaries:
        rs.aux[aux.name], facts = aux.advance(rs.aux[aux.name], round_index)
        learned.update(facts)
    want = exp.sampler.needs_signals(rs.sampler, round_index) - provided(exp.auxiliaries)
    if want:
        mask = rs.plan.class_mask if rs.plan is not None else np.ones(exp.num_classes, bool)
        signals = exp.evaluator.score(rs.train, exp.train_feed, mask, labels, want)
        rs.meters.extra_forward += exp.num_train
    for aux in exp.auxiliaries:
        signals = aux.signals(rs.aux[aux.name], signals, labels)
    if rs.trained is not None and round_index > 0:
        signals = signals or Signals(None, None, None, np.asarray(labels, np.int32))
        signals = signals._replace(trained=rs.trained.take())
    # The sampler is held to the protocol (samplers/checked.py): the plan's shape, range.
    rs.plan, rs.sampler = exp.sampler.plan_round(rs.sampler, round_index, signals)
    rs.round_start = first_step
    rs.plan.info.update(learned)
    if exp.dataset.noisy is not None:
        rs.plan.info.update(_noise_shares(exp.dataset.noisy, rs.plan))
    rs.round = round_index
    if rs.plan.reinit_classes is not None and rs.plan.reinit_classes.any():
        # LGL: fresh classifier rows for the classes this stage adds.
        path = models.classifier_path(rs.train.params, exp.num_classes)
        classes = parallel.put_replicated(rs.plan.reinit_classes, exp.mesh)
        key = jax.random.fold_in(exp.init_key, round_index)
        init = models.head_init(exp.config.model.name)
        rs.train = _reinit_classes(rs.train, classes, key, path, init)
    phases = dict(exp.timer.round)
    if sum(phases.values()) >= console.LONG_PHASE_S:
        listed = ", ".join(
            f"{k} {console.seconds(v)}" for k, v in sorted(phases.items(), key=lambda kv: -kv[1])
        )
        console.info(
            f"round {round_index} set-up took {console.seconds(sum(phases.values()))}: {listed}"
        )


@functools.partial(jax.jit, static_argnums=(3, 4))
def _reinit_classes(state, classes, key, path, init):
    return state.replace(params=models.reinit_classes(state.params, path, classes, key, init))


def evaluate(exp: Experiment, rs: RunState, step: int, t0: float) -> dict:
    """One ``metrics.jsonl`` row: test (and validation) accuracy and loss, and the round's facts."""
    t_eval = time.perf_counter()
    with exp.timer.timed("evaluation"):
        mask = rs.plan.class_mask
        test_acc, test_loss = exp.evaluator.evaluate(rs.train, exp.test_feed, mask)
        extra = rs.meters.extra_forward
        row = {
            "step": step,
            "round": rs.round,
            "test_accuracy": test_acc,
            "test_loss": test_loss,
            "train_loss": rs.meters.take("eval"),
            "lr": float(exp.schedule(rs.schedule_step(step))),
            "scoring_forward_passes": extra,
            "extra_forward_passes": extra + _auxiliary_forward_passes(exp, rs),
            "wall_time": time.time() - t0,
        }
        if exp.proxy_model is not None:  # a proxy scorer's passes, as any learner's count
            proxy = jax.device_get(rs.train.proxy)
            row["proxy_forward_passes"] = int(proxy.forward)
            row["proxy_backward_passes"] = int(proxy.backward)
            row["extra_forward_passes"] += int(proxy.forward)
        if exp.val_feed is not None:
            row["val_accuracy"], row["val_loss"] = exp.evaluator.evaluate(
                rs.train, exp.val_feed, mask
            )
        for aux in exp.auxiliaries:
            row.update(aux.evaluation(rs.aux[aux.name]))
        if exp.config.train.eval_train_loss:
            # The loss on every training example and class, whatever the method trained on
            # (LGL Fig. 2); an evaluation pass, not counted as extra training compute.
            every_class = np.ones(exp.num_classes, bool)
            _, row["full_train_loss"] = exp.evaluator.evaluate(
                rs.train, exp.train_feed, every_class
            )
        row.update(rs.plan.info)
        row.update(rs.selection_facts(_noise_tracked(exp)))
    parts = [f"test accuracy {console.percent(test_acc)}, loss {test_loss:.4f}"]
    if "val_accuracy" in row:
        parts.append(
            f"val accuracy {console.percent(row['val_accuracy'])}, loss {row['val_loss']:.4f}"
        )
    for aux in exp.auxiliaries:  # a learner's own clause (SPL-ADVisE's embedding k-NN)
        clause = getattr(aux, "console", None)
        text = clause(row) if clause else None
        if text:
            parts.append(text)
    seconds = time.perf_counter() - t_eval
    console.info(
        f"eval at step {step} (round {rs.round}, {console.seconds(seconds)}): " + " | ".join(parts)
    )
    return row


def _auxiliary_forward_passes(exp: Experiment, rs: RunState) -> int:
    return sum(aux.forward_passes(rs.aux[aux.name]) for aux in exp.auxiliaries)


def _round_row(exp: Experiment, rs: RunState, step: int) -> dict:
    """One ``rounds.jsonl`` row, written when the round's last step is done."""
    phases = dict(exp.timer.round)
    selection = rs.selection_facts(_noise_tracked(exp))
    rs.selection = {}  # the next round's sums start again
    return {
        "round": rs.round,
        "step": step,
        "first_step": rs.round_start,
        "train_loss": rs.meters.take("round"),
        **rs.plan.info,
        **selection,
        "time": {k: round(v, 4) for k, v in sorted(phases.items())},
    }


def _noise_tracked(exp: Experiment) -> bool:
    """Whether a selector's steps count the flipped labels they train on (label noise,
    in-memory data: the step reads the ``noisy`` mask by example index)."""
    return exp.dataset.noisy is not None and not exp.train_feed.host_batches


def _noise_shares(noisy: np.ndarray, plan) -> dict:
    """The share of flipped labels in the training data and among what this round trains on."""
    trained = np.zeros(len(noisy), bool)
    trained[plan.indices[plan.weights > 0]] = True
    return {
        "noisy_fraction": float(noisy.mean()),
        "noisy_selected_fraction": float(noisy[trained].mean()),
    }


def _selected(rs: RunState) -> dict:
    fraction = rs.plan.info.get("selected_fraction")
    return {} if fraction is None else {"selected_fraction": fraction}


@jax.jit
def _all_finite(tree) -> jax.Array:
    """Whether every floating-point leaf of ``tree`` is finite (one device reduction).

    Over the leaves joined into one vector: a third of the compile time of one check
    per leaf (0.13 s against 0.42 s for the LeNet's state on a CPU core)."""
    leaves = [x.ravel() for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.isfinite(jnp.concatenate(leaves))) if leaves else jnp.bool_(True)


def _drain(pending: list, rs: RunState, step: int, checkpoints: str) -> None:
    """Read the pending steps' metrics on the host; stop before saving if training diverged."""
    for offset, metrics in enumerate(jax.device_get(pending)):  # one fetch for them all
        loss = float(metrics["loss"])
        if not np.isfinite(loss):
            bad = step - len(pending) + offset + 1
            raise FloatingPointError(
                f"training diverged: the train loss is {loss} at step {bad}; the last "
                f"good checkpoint is kept in {checkpoints}"
            )
        rs.meters.add_step(metrics)
        rs.add_selection(metrics)
        rs.add_trained(metrics)
    pending.clear()
    # A step's loss is computed before its update: the last update can still have
    # blown the weights up. Never checkpoint (or evaluate) non-finite weights.
    if not bool(np.asarray(_all_finite(rs.train).addressable_data(0))):
        raise FloatingPointError(
            f"training diverged: the model's weights are not finite after step {step}; "
            f"the last good checkpoint is kept in {checkpoints}"
        )


def _restore(exp, rs, ckpt, workdir: str, allow_config_change: bool) -> tuple[int, RunState]:
    """``(step, state)`` of the newest checkpoint that restores, or ``(0, rs)`` without one."""

    def check_meta(meta: dict) -> None:
        # The config is compared before the arrays are read: a changed config is
        # reported as such, not as a shape mismatch deep inside orbax.
        if not allow_config_change:
            resume.refuse_changed_config(exp.fingerprint, workdir, meta["config"])

    like = rs.placeholder(exp.steps_per_round, exp.plan_width, exp.num_classes)
    found = resume.restore_newest(ckpt, like.tree(), check_meta)
    if found is None:
        return 0, rs
    step, tree, meta = found
    trained = 0 if rs.trained is None else len(rs.trained.indices)
    return step, RunState.from_checkpoint(
        tree, meta, full_round=exp.steps_per_round, trained_size=trained
    )


def load_checkpoint(exp: Experiment, workdir: str) -> tuple[RunState, int]:
    """The newest checkpoint of ``workdir`` as a :class:`RunState` (for analysis and tests)."""
    ckpt = Checkpoints(os.path.join(workdir, "checkpoints"))
    try:
        step, rs = _restore(exp, exp.initial_state(), ckpt, workdir, True)
        if not step:
            raise FileNotFoundError(f"no checkpoint in {workdir}")
        return rs, step
    finally:
        ckpt.close()


def _describe(exp: Experiment, workdir: str, start: int, rs: RunState) -> None:
    c = exp.config
    console.info(f"run directory: {workdir} (re-running the same command resumes)")
    method = get_method(c.method.name).name
    named = method if method == c.method.name else f"{method} ({c.method.name})"
    console.info(
        f"{named} on {c.data.name} ({exp.num_train} training examples, "
        f"{exp.num_classes} classes), model {c.model.name}: {exp.num_steps} steps = "
        f"{exp.num_rounds} rounds of {exp.steps_per_round}, batch {exp.batch_size} on "
        f"{exp.mesh.size} device(s)"
    )
    if start:
        console.info(f"resumed from the checkpoint at step {start} (round {rs.round})")


def _summarize(exp: Experiment, workdir: str, rows: list[dict], writers, wall: float) -> None:
    if not rows:
        return
    last = rows[-1]
    best = max(rows, key=lambda r: r["test_accuracy"])
    console.info(
        f"done in {console.seconds(wall)}: final test accuracy "
        f"{console.percent(last['test_accuracy'])} at step {last['step']}; best of this "
        f"process's evaluations {console.percent(best['test_accuracy'])} at step {best['step']}"
    )
    outputs = ["metrics.jsonl", "rounds.jsonl", "config.json", "run_info.json", "timing.json"]
    for aux in exp.auxiliaries:
        outputs.extend(aux.outputs)
    console.info(f"wrote {', '.join(outputs)} and checkpoints/ in {workdir}")
    if compile_cache.summary():
        console.info(compile_cache.summary())
    if writers.tensorboard_dir:
        console.info(f"TensorBoard: tensorboard --logdir {writers.tensorboard_dir}")
