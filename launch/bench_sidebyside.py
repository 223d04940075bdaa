"""The project's run beside a plain JAX/Flax script of the same job, and PyTorch eager.

    python launch/bench_sidebyside.py [--npz PATH] [--repeats 2] [--core 0] [--steps 1500]

The job is the README's main one (``configs/digits_random.py``: LeNet on the 1,438
training digits, batch 64, 1,500 steps, a test evaluation every 250), on the arrays of
``--npz`` (default: the digits split, written to a temporary file). Every run is a fresh
process pinned to one core (``taskset -c CORE``); the kinds alternate within each
repetition, so the ratios come from runs made under the same load:

* ``project cold``: ``train_and_evaluate`` with an empty compilation cache;
* ``project warm``: the same with the cache the cold run left (a fresh workdir);
* ``plain JAX cold`` / ``warm``: ``launch/plain_jax_job.py``, with an empty cache and
  with the one the cold run left;
* ``PyTorch``: ``launch/plain_torch_job.py``, when torch is importable (the ``bench``
  extra); skipped with a message otherwise.

Each run reports the whole process to the end of training, start-up (process start to
the first step), the first step (compilation), the steady step (the rest of the loop per
step, evaluations included), and one already-compiled pass of evaluation (test split)
and of scoring (per-example losses over the training split). Medians per kind, and the
median over repetitions of each kind's ratio to plain JAX cold in the same repetition.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIELDS = ("job_s", "startup_s", "first_step_s", "step_ms", "eval_s", "score_s")


def _project(args) -> None:
    """One run of the project's job in this process; prints the JSON line."""
    t0 = float(os.environ["BENCH_T0"])
    import jax

    from lgl_spl.train import loop

    spec = importlib.util.spec_from_file_location("cfg", os.path.join(REPO, args.config))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.data.npz_path = args.npz
    config.train.num_steps = args.steps
    config.train.compilation_cache = args.cache or "off"
    marks: dict[str, float] = {}
    built = []
    real_build = loop.build_experiment

    def build(c):
        exp = real_build(c)
        real_train = exp.steps.train

        def train(*a):
            if "start" in marks:
                return real_train(*a)
            marks["start"] = time.time()
            out = real_train(*a)
            jax.block_until_ready(out)
            marks["first"] = time.time()
            return out

        exp.steps = exp.steps._replace(train=train)
        built.append(exp)
        return exp

    loop.build_experiment = build
    last = loop.train_and_evaluate(config, args.workdir)
    t_done = time.time()
    exp = built[0]
    state = exp.initial_state().train  # a pass costs the same whatever the weights
    import numpy as np

    mask = np.ones(exp.num_classes, bool)
    exp.evaluator.evaluate(state, exp.test_feed, mask)
    t = time.perf_counter()
    exp.evaluator.evaluate(state, exp.test_feed, mask)
    eval_s = time.perf_counter() - t
    labels = exp.dataset.y_train
    exp.evaluator.score(state, exp.train_feed, mask, labels, ("losses",))
    t = time.perf_counter()
    exp.evaluator.score(state, exp.train_feed, mask, labels, ("losses",))
    score_s = time.perf_counter() - t
    row = {
        "startup_s": marks["start"] - t0,
        "first_step_s": marks["first"] - marks["start"],
        # The loop after the first step: the rest of the steps, evaluations, checkpoints.
        "step_ms": 1e3 * (t_done - marks["first"]) / max(args.steps - 1, 1),
        "job_s": t_done - t0,
        "eval_s": eval_s,
        "score_s": score_s,
        "test_accuracy": last["test_accuracy"],
    }
    print(json.dumps(row))


def _run(cmd: list[str], core: int | None) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
    for name in ("JAX_COMPILATION_CACHE_DIR", "XLA_FLAGS"):
        env.pop(name, None)
    pinned = (["taskset", "-c", str(core)] if core is not None else []) + cmd
    env["BENCH_T0"] = repr(time.time())
    t = time.time()
    out = subprocess.run(pinned, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.time() - t
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["process_s"] = wall
    return row


def _digits_npz(path: str) -> str:
    sys.path.insert(0, REPO)
    import numpy as np

    from lgl_spl.data.sources import load_digits

    raw = load_digits(seed=0)
    np.savez(path, x_train=raw.x_train, y_train=raw.y_train, x_test=raw.x_test, y_test=raw.y_test)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--npz", default="", help="x_train/y_train/x_test/y_test (default: digits)")
    p.add_argument("--config", default="configs/digits_random.py")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--core", type=int, default=0, help="the core to pin to (-1: no pinning)")
    p.add_argument("--role", default="", help=argparse.SUPPRESS)
    p.add_argument("--workdir", default="", help=argparse.SUPPRESS)
    p.add_argument("--cache", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role == "project":
        return _project(args)

    core = None if args.core < 0 else args.core
    tmp = tempfile.mkdtemp(prefix="sidebyside-")
    try:
        npz = args.npz or _digits_npz(os.path.join(tmp, "digits.npz"))
        me = [sys.executable, os.path.abspath(__file__), "--npz", npz, "--steps", str(args.steps)]
        me += ["--config", args.config]
        plain = [sys.executable, os.path.join(HERE, "plain_jax_job.py"), "--npz", npz]
        plain += ["--steps", str(args.steps)]
        torch_job = [sys.executable, os.path.join(HERE, "plain_torch_job.py"), "--npz", npz]
        torch_job += ["--steps", str(args.steps)]
        has_torch = importlib.util.find_spec("torch") is not None
        if not has_torch:
            print("PyTorch is not installed (pip install -e '.[bench]'): its column is skipped")
        rows: dict[str, list[dict]] = {}
        for r in range(args.repeats):
            ours, theirs = os.path.join(tmp, f"ours{r}"), os.path.join(tmp, f"plain{r}")
            runs = [
                ("project cold", [*me, "--role", "project", "--cache", ours]),
                ("plain JAX cold", [*plain, "--cache", theirs]),  # an empty cache, filled
                ("project warm", [*me, "--role", "project", "--cache", ours]),
                ("plain JAX warm", [*plain, "--cache", theirs]),
            ]
            if has_torch:
                runs.append(("PyTorch", torch_job))
            for i, (kind, cmd) in enumerate(runs):
                if kind.startswith("project"):
                    cmd = [*cmd, "--workdir", os.path.join(tmp, f"run{r}-{i}")]
                row = _run(cmd, core)
                rows.setdefault(kind, []).append(row)
                print(kind, json.dumps({k: round(v, 4) for k, v in row.items()}), flush=True)
        _report(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _report(rows: dict[str, list[dict]]) -> None:
    """Medians per kind, and the median over repetitions of each within-repetition ratio
    (the load of a shared machine drifts between repetitions more than within one)."""
    cols = ("process_s", *FIELDS)
    base = rows["plain JAX cold"]
    print("\nmedians (s; step in ms) [median of the within-repetition ratios to plain JAX cold]")
    print(" | ".join(["kind", *cols]))
    for kind, runs in rows.items():
        cells = []
        for f in cols:
            ratio = statistics.median(r[f] / b[f] for r, b in zip(runs, base, strict=False))
            cells.append(f"{statistics.median(r[f] for r in runs):.3f} [{ratio:.2f}x]")
        print(" | ".join([kind, *cells]))
    if "project warm" in rows and "project cold" in rows:
        ratios = [
            w["process_s"] / c["process_s"]
            for w, c in zip(rows["project warm"], rows["project cold"], strict=True)
        ]
        listed = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"project warm / cold, whole process: {statistics.median(ratios):.2f} ({listed})")


if __name__ == "__main__":
    main()
