"""Each method's wall time against `random` at equal student updates, split by phase.

    python launch/bench_methods.py --dataset digits --rounds 12
    python launch/bench_methods.py --methods online_hard,online_easy,rho_loss
    python launch/bench_methods.py --dataset fashion_mnist --npz PATH/fashion_mnist.npz \
        --train-limit 10000 --rounds 3 --methods spl,spld

Every method trains the same student for the same number of updates in this
process, one after the other; `random` always runs too and is the baseline.
Phases come from each run's timing.json (student training, scoring, embedding
training, clustering, selection, evaluation, checkpointing). On top of that this
script records, without changing what is measured:

- compilation: every XLA trace/lower/compile interval (``jax.monitoring``),
  attributed to the innermost phase it happened in. "warm" figures subtract it:
  a short run on a CPU is otherwise mostly compilation, which a long run pays once;
- the whole of each round's setup (``loop.start_round``: the embedding
  learner's owed steps, scoring, the sampler's ``plan_round``, LGL's head
  reset), and inside ADVisE's cluster refreshes the embedding net's forward
  pass over the training set.

For the online batch selection methods (``online_hard``, ``online_easy``, ``rho_loss``),
whose selection happens inside the train step, the script also times the step against
its own arithmetic in the same process: the whole selecting step, the candidates' eval
forward alone and the kept batch's forward and backward alone (``random``'s step on
``batch`` examples); the machinery above that arithmetic (gathers, top-k, re-sharding,
the step's metrics) has a target of ≤ 5 % of the step.

"× own student" is a method's warm wall time over its own student training time:
every method trains the same student for the same updates, so this is its ratio
to `random` with the load drift between runs taken out (both parts ran in the
same rounds). "Selection machinery" = round setup − forward/backward passes (student scoring,
embedding training, the refresh forward pass) − compilation: the sampler, the
pace and selection rules, k-means, per-round bookkeeping. Of it, "kmeans" is the
clustering phase without the refresh forward pass, "selection" the selection phase
(pace and selection rules, the round's index plan). The targets are that
it stays ≤ 2 % of a round's warm wall time, and that `advise` stays ≤ 1.5× `random`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from timing import machine

from lgl_spl import configlib, parallel
from lgl_spl import data as data_lib
from lgl_spl.timing import PhaseTimer
from lgl_spl.train import loop as loop_lib
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.embedding import EmbeddingLearner
from lgl_spl.train.experiment import build_experiment
from lgl_spl.train.steps import StepBatch, make_steps

METHODS = ["random", "spl", "spl_inv", "spld", "advise", "lgl"]
ONLINE = ["online_hard", "online_easy", "rho_loss"]  # step-level selection
TIMED = ["scoring", "embedding", "clustering", "selection", "evaluation", "checkpointing"]
TIMED += ["irreducible"]  # RHO-LOSS's irreducible-loss model: training and its one pass
MACHINERY_TARGET = 0.02
ADVISE_TARGET = 1.5
STEP_MACHINERY_TARGET = 0.05


class Recorder:
    """Phase and compilation intervals of the current run (perf_counter seconds)."""

    def __init__(self):
        self.phases: list[tuple[str, float, float]] = []
        self.compiles: list[tuple[float, float]] = []
        self.run_start = 0.0
        self.open: list[str] = []  # phases entered and not yet left

    def reset(self):
        self.phases.clear()
        self.compiles.clear()
        self.run_start = 0.0

    def install(self):
        jax.monitoring.register_event_duration_secs_listener(self._on_event)
        timed = PhaseTimer.timed
        start_round = loop_lib.start_round
        embed = EmbeddingLearner.embed
        train = loop_lib._train
        rec = self

        def recorded_train(exp, rs, start, *a, **kw):
            rec.run_start = time.perf_counter()  # timing.json's clock starts here too
            return train(exp, rs, start, *a, **kw)

        @contextlib.contextmanager
        def recorded_timed(timer, phase):
            t0 = time.perf_counter()
            rec.open.append(phase)
            try:
                with timed(timer, phase):
                    yield
            finally:
                rec.open.pop()
            rec.phases.append((phase, t0, time.perf_counter()))

        def recorded_start_round(exp, rs, round_index, **kwargs):
            jax.block_until_ready(rs.train)  # queued student steps are not setup
            t0 = time.perf_counter()
            start_round(exp, rs, round_index, **kwargs)
            rec.phases.append(("round_setup", t0, time.perf_counter()))

        def recorded_embed(learner, net, indices):
            t0 = time.perf_counter()
            out = embed(learner, net, indices)
            if rec.open and rec.open[-1] == "clustering":  # a refresh, not a t-SNE snapshot
                rec.phases.append(("refresh_forward", t0, time.perf_counter()))
            return out

        PhaseTimer.timed = recorded_timed
        loop_lib.start_round = recorded_start_round
        EmbeddingLearner.embed = recorded_embed
        loop_lib._train = recorded_train

    def _on_event(self, event, duration, **_):
        if event.startswith("/jax/core/compile/"):
            end = time.perf_counter()
            self.compiles.append((end - duration, end))

    def phase_totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, t0, t1 in self.phases:
            out[name] = out.get(name, 0.0) + t1 - t0
        return out

    def compile_by_phase(self) -> dict[str, float]:
        """Union of compile intervals, attributed to the innermost enclosing phase."""
        groups: dict[str, list[tuple[float, float]]] = {}
        for c0, c1 in self.compiles:
            if c0 < self.run_start:  # setup before the run's clock (model init)
                continue
            mid = (c0 + c1) / 2
            inside = [p for p in self.phases if p[1] <= mid <= p[2]]
            name = max(inside, key=lambda p: p[1])[0] if inside else "outside"
            groups.setdefault(name, []).append((c0, c1))
        return {name: _union_length(iv) for name, iv in groups.items()}


def _union_length(intervals):
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def make_config(args, method, num_train):
    if args.dataset == "digits":
        c = configlib.digits_student()
    else:
        c = configlib.base_config()
        c.data.name = "fashion_mnist"
        c.data.npz_path = args.npz
        c.data.train_limit = args.train_limit
        c.model.name = "lenet"
        c.train.batch_size = 128
        c.train.learning_rate = 0.05
        c.train.momentum = 0.9
        c.train.lr_schedule = "constant"
    per_round = -(-num_train // c.train.batch_size)
    c.train.num_steps = args.rounds * per_round
    c.train.eval_every = c.train.num_steps  # one evaluation: keep the comparison about training
    c.train.log_every = 10**9
    c.train.lr_decay_steps = c.train.num_steps
    kw = {}
    if method in ("spl", "spl_inv", "spld", "advise"):
        kw["rescore_every"] = args.rescore_every
    if method == "advise":
        embed_per_round = max(per_round // args.embed_every, 1)
        kw.update(
            embed_width=args.embed_width,
            embed_lr=1e-3,
            embed_steps=c.train.num_steps // args.embed_every,
            student_steps_per_embed_step=args.embed_every,
            refresh_every=max(int(embed_per_round * args.refresh_rounds), 1),
        )
    configlib.set_method(c, method, **kw)
    if method == "lgl":
        configlib.set_method(c, "lgl", budget="fair")  # the baseline's steps, split
    return c


def run_method(args, method, num_train, rec: Recorder) -> dict:
    c = make_config(args, method, num_train)
    rec.reset()
    t_call = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        last = train_and_evaluate(c, workdir)
        with open(os.path.join(workdir, "timing.json")) as f:
            timing = json.load(f)
    phases, compiled = rec.phase_totals(), rec.compile_by_phase()
    comp = lambda p: compiled.get(p, 0.0)  # noqa: E731
    warm = {p: timing.get(p, 0.0) - comp(p) for p in TIMED}
    warm["refresh_forward"] = phases.get("refresh_forward", 0.0) - comp("refresh_forward")
    # Everything in round setup (the sampler phases happen inside it), compilation removed.
    inside = ("round_setup", "scoring", "embedding", "clustering", "selection", "refresh_forward")
    inside += ("irreducible",)
    setup = phases.get("round_setup", 0.0) - sum(comp(p) for p in inside)
    forward = warm["scoring"] + warm["embedding"] + warm["refresh_forward"] + warm["irreducible"]
    warm["machinery"] = setup - forward
    # Setup work no sampler phase names (plan bookkeeping, LGL's head reset) is counted
    # by timing.json as student training; it is machinery here.
    warm["kmeans"] = warm["clustering"] - warm["refresh_forward"]
    named = warm["selection"] + warm["kmeans"]
    untimed = warm["machinery"] - named
    warm["student_training"] = (
        timing["student_training"] - comp("outside") - comp("round_setup") - untimed
    )
    # The wall time of training itself: evaluation and checkpoints are the same for all.
    warm["wall"] = warm["student_training"] + forward + warm["machinery"]
    return {
        "steps": int(c.train.num_steps),
        "rounds": -(-int(c.train.num_steps) // -(-num_train // int(c.train.batch_size))),
        "total": timing["total"],
        "startup": rec.run_start - t_call,
        "compile": sum(compiled.values()),
        "warm": warm,
        "accuracy": last["test_accuracy"],
        "updates": int(last["step"]),  # fewer than steps for a method of short rounds
        "method_cfg": {k: v for k, v in c.method.items()},
    }


def step_arithmetic(args, method: str, num_train: int) -> dict:
    """One online method's train step against its own arithmetic, in this process.

    Times, interleaved over ``--step-repeats`` blocks of ``--step-iters`` steps (medians
    per step): the method's whole step (candidates scored in eval mode, top-k, the kept
    batch's update); the candidates' eval forward alone (the scoring step on the same
    rows); the batch's forward and backward alone (`random`'s step on the first
    ``batch`` candidates, which is what a plain step trains). Machinery = whole − the
    two parts: the gathers, the top-k, the re-sharding and the metrics.
    """
    c = make_config(args, method, num_train)
    c.method.warmup_rounds = 0  # every timed step selects
    exp = build_experiment(c)
    rs = exp.initial_state()
    per_example = exp.step_inputs(rs)  # (rho_loss: zero IL losses, the same arithmetic)
    plain = make_steps(exp.model, exp.tx, exp.schedule, exp.spec, exp.mesh)
    width, batch, mesh = exp.plan_width, exp.batch_size, exp.mesh
    rng = np.random.default_rng(0)
    rows = [rng.permutation(exp.num_train)[:width].astype(np.int32) for _ in range(8)]
    ones = parallel.put_batch(np.ones(width, np.float32), mesh)
    ones_batch = parallel.put_batch(np.ones(batch, np.float32), mesh)
    mask = parallel.put_replicated(np.ones(exp.num_classes, bool), mesh)
    key, step = exp.step_key, jnp.float32(0)
    feed = exp.train_feed
    args_full = [feed.batch(r) for r in rows]
    args_batch = [feed.batch(r[:batch]) for r in rows]
    states = {
        "whole": jax.tree.map(jnp.copy, rs.train),
        "update": jax.tree.map(jnp.copy, rs.train),
    }

    def whole(i):
        states["whole"], m = exp.steps.train(
            states["whole"], StepBatch(*args_full[i % 8], ones), key, step, mask, per_example
        )
        return m["loss"]

    def forward(i):
        return exp.steps.score(rs.train, StepBatch(*args_full[i % 8], ones), mask, ("losses",))[
            "losses"
        ]

    def update(i):
        states["update"], m = plain.train(
            states["update"], StepBatch(*args_batch[i % 8], ones_batch), key, step, mask, {}
        )
        return m["loss"]

    parts = {"whole": whole, "candidates_forward": forward, "batch_update": update}
    for fn in parts.values():  # compile and warm up
        for i in range(3):
            jax.block_until_ready(fn(i))
    times = {name: [] for name in parts}
    for _ in range(args.step_repeats):
        for name, fn in parts.items():
            t0 = time.perf_counter()
            for i in range(args.step_iters):
                out = fn(i)
            jax.block_until_ready(out)
            jax.block_until_ready(states["whole"])
            jax.block_until_ready(states["update"])
            times[name].append((time.perf_counter() - t0) / args.step_iters)
    med = {name: statistics.median(t) for name, t in times.items()}
    med["candidates"], med["batch"] = width, batch
    return med


def _median_rows(runs: list[dict]) -> dict:
    row = dict(runs[0])
    row["total"] = statistics.median(r["total"] for r in runs)
    row["compile"] = statistics.median(r["compile"] for r in runs)
    row["startup"] = statistics.median(r["startup"] for r in runs)
    row["warm"] = {k: statistics.median(r["warm"][k] for r in runs) for k in runs[0]["warm"]}
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=["digits", "fashion_mnist"], default="digits")
    parser.add_argument("--npz", default="")
    parser.add_argument("--train-limit", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--methods", default=",".join(METHODS[1:]))
    parser.add_argument("--repeats", type=int, default=1, help="round-robin repeats; medians")
    parser.add_argument("--rescore-every", type=int, default=1, help="rounds between scorings")
    parser.add_argument("--embed-every", type=int, default=2, help="student steps per embed step")
    parser.add_argument("--embed-width", type=float, default=0.5)
    parser.add_argument("--refresh-rounds", type=float, default=1.0, help="rounds per refresh")
    parser.add_argument("--step-iters", type=int, default=20, help="steps per timed block")
    parser.add_argument("--step-repeats", type=int, default=5, help="interleaved timed blocks")
    args = parser.parse_args()
    if args.dataset == "fashion_mnist" and not args.npz:
        parser.error("--dataset fashion_mnist needs --npz PATH/fashion_mnist.npz")
    methods = ["random"] + [m for m in args.methods.split(",") if m and m != "random"]
    print(f"machine: {machine()}")
    probe = make_config(args, "random", 1)
    num_train = data_lib.load(probe.data, seed=probe.seed).num_train

    rec = Recorder()
    rec.install()
    # Warm-up, not timed: the first run in a process pays for what every run shares, and
    # its first hundred or so steps run slower even after compilation (measured: a
    # 2-step warm-up left the first timed run ~40 % slower than later identical ones).
    c = make_config(args, "random", num_train)
    c.train.num_steps = c.train.eval_every = 2 * -(-num_train // c.train.batch_size)
    with tempfile.TemporaryDirectory() as workdir:
        train_and_evaluate(c, workdir)

    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for _ in range(args.repeats):
        for method in methods:
            runs[method].append(run_method(args, method, num_train, rec))
    rows = {m: _median_rows(r) for m, r in runs.items()}

    adv = rows.get("advise", {}).get("method_cfg", {})
    print(
        f"{args.dataset}: {num_train} training examples, {args.rounds} rounds, "
        f"{rows['random']['steps']} student updates per method (a method of short rounds "
        f"takes fewer: the updates column), repeats {args.repeats}"
    )
    if adv:
        print(
            "advise: embed net {embed_model} width {embed_width}, one embedding step every "
            "{student_steps_per_embed_step} student steps ({embed_steps} in all), cluster "
            "refresh every {refresh_every} embedding steps, M={clusters_per_batch} "
            "D={examples_per_cluster}, rescore every {rescore_every} round(s)".format(**adv)
        )
    cols = ["student_training", "scoring", "embedding", "refresh_forward", "irreducible"]
    cols += ["kmeans", "selection", "machinery"]
    header = (
        "| method | startup s | total s | × random | compile s | warm s | × random (warm) | "
        "× own student | " + " | ".join(cols) + " | machinery % of a round | test acc | updates |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    base = rows["random"]
    for method, t in rows.items():
        w = t["warm"]
        print(
            f"| {method} | {t['startup']:.1f} | {t['total']:.1f} | "
            f"{t['total'] / base['total']:.2f} | "
            f"{t['compile']:.1f} | {w['wall']:.1f} | {w['wall'] / base['warm']['wall']:.2f} | "
            f"{w['wall'] / w['student_training']:.2f} | "
            + " | ".join(f"{w[p]:.2f}" for p in cols)
            + f" | {100 * w['machinery'] / w['wall']:.2f} | {t['accuracy']:.4f} | {t['updates']} |"
        )
    if "infobatch" in rows:
        t = rows["infobatch"]
        ratio = t["total"] / base["total"]
        print(
            f"infobatch: {t['updates']} updates ({t['updates'] / base['updates']:.2f}x random's), "
            f"whole run {ratio:.2f}x random's wall time; target <= 0.75x -> "
            f"{'met' if ratio <= 0.75 else 'MISSED'}"
        )
    worst = max(rows, key=lambda m: rows[m]["warm"]["machinery"] / rows[m]["warm"]["wall"])
    share = rows[worst]["warm"]["machinery"] / rows[worst]["warm"]["wall"]
    print(
        f"target machinery <= {100 * MACHINERY_TARGET:.0f}% of a round: worst {worst} "
        f"{100 * share:.2f}% -> {'met' if share <= MACHINERY_TARGET else 'MISSED'}"
    )
    online = [m for m in methods if m in ONLINE]
    if online:
        print(
            "\nthe selection step against its own arithmetic (ms per step, medians of "
            f"{args.step_repeats} interleaved blocks of {args.step_iters} steps):"
        )
        header = (
            "| method | candidates / batch | whole step | candidates' eval forward | "
            "batch forward + backward | machinery | machinery % of the step | "
            "× random's step (batch forward + backward) |"
        )
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        worst = float("-inf")
        for method in online:
            t = step_arithmetic(args, method, num_train)
            parts = t["candidates_forward"] + t["batch_update"]
            machinery = t["whole"] - parts
            worst = max(worst, machinery / t["whole"])
            print(
                f"| {method} | {t['candidates']} / {t['batch']} | {1e3 * t['whole']:.2f} | "
                f"{1e3 * t['candidates_forward']:.2f} | {1e3 * t['batch_update']:.2f} | "
                f"{1e3 * machinery:.2f} | {100 * machinery / t['whole']:.1f} | "
                f"{t['whole'] / t['batch_update']:.2f} |"
            )
        print(
            f"target step machinery <= {100 * STEP_MACHINERY_TARGET:.0f}% of the step: worst "
            f"{100 * worst:.1f}% -> {'met' if worst <= STEP_MACHINERY_TARGET else 'MISSED'}"
        )
    if "advise" in rows:
        w = rows["advise"]["warm"]
        ratio = w["wall"] / base["warm"]["wall"]
        own = w["wall"] / w["student_training"]
        cold = rows["advise"]["total"] / base["total"]
        verdict = lambda r: "met" if r <= ADVISE_TARGET else "MISSED"  # noqa: E731
        print(
            f"target advise <= {ADVISE_TARGET}x random: warm {ratio:.2f}x -> {verdict(ratio)}; "
            f"against its own student training {own:.2f}x -> {verdict(own)} "
            f"(with compilation: {cold:.2f}x)"
        )


if __name__ == "__main__":
    main()
