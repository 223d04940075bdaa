"""Run a set of configs × seeds (× grid values), one workdir each; skip finished runs.

    python launch/sweep.py --root runs/fmnist --seeds 0 1 2 \\
        --configs configs/cpu/fashion_mnist_*.py \\
        --set data.npz_path=PATH/fashion_mnist.npz
    python launch/sweep.py --root runs/toy --seeds 0 1 2 \\
        --configs configs/toy_random.py configs/toy_spl.py \\
        --grid model.name=mlp1,mlp3 --grid data.toy_layout=separable,overlapping

A config may take an argument (``configs/cpu/control.py:cifar10,spl,sym40``).
Each run lives in ROOT/<config name or argument>[/<grid values>]/seed_<s> and is
trained by ``python -m lgl_spl.main`` in a subprocess (its output goes to
``log.txt`` there). A finished run (the last metrics row at ``train.num_steps``)
is skipped; an interrupted one resumes from its checkpoint, so re-running the
sweep after a crash finishes the work. Here the runs go one after another, or
``--jobs N`` at a time (a small model on a CPU uses about one core); on a
cluster, a job array runs one each: ``--task-id $SLURM_ARRAY_TASK_ID``
(``--count`` prints the array size). A run whose workdir another process holds (a second
sweep on the same root, a run started by hand) is skipped as busy and named at the end; the
run's own workdir lock (docs/reliability.md) makes sure no workdir is trained twice at once.
Then ``python -m lgl_spl.report ROOT --out
OUT`` tabulates them. The runs share the persistent compilation cache
(``train.compilation_cache``, on by default): the first run of a config compiles its
programs, the later ones load them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from lgl_spl.lock import holder

# The one line a run prints when another process holds its workdir (lgl_spl/lock.py).
_BUSY_LINE = "error: another run is using the workdir"
BUSY = 2  # the run's exit code then (a ConfigError)


@dataclass(frozen=True)
class Run:
    config: str
    seed: int
    overrides: tuple[str, ...]  # KEY=VALUE, applied to the config
    workdir: str

    def command(self) -> list[str]:
        flags = [f"--config.{kv}" for kv in (*self.overrides, f"seed={self.seed}")]
        return [sys.executable, "-m", "lgl_spl.main", "--config", self.config, "--workdir"] + [
            self.workdir,
            *flags,
        ]


def _config_name(config: str) -> str:
    """``configs/x.py`` → ``x``; ``configs/x.py:a,b`` → ``a-b``."""
    path, _, arg = config.partition(":")
    return arg.replace(",", "-") if arg else os.path.splitext(os.path.basename(path))[0]


def _grid(pairs: list[str]) -> list[tuple[str, ...]]:
    """``["a=1,2", "b=x"]`` → ``[("a=1", "b=x"), ("a=2", "b=x")]``."""
    axes = []
    for pair in pairs:
        key, _, values = pair.partition("=")
        if not key or not values:
            raise SystemExit(f"error: --grid takes KEY=V1,V2,…, got {pair!r}")
        axes.append([f"{key}={v}" for v in values.split(",")])
    return list(itertools.product(*axes)) if axes else [()]


def plan(root: str, configs, seeds, fixed=(), grid=()) -> list[Run]:
    """Every (seed, config, grid point), seed-major: a sweep cut short has whole seeds."""
    for config in configs:
        if not os.path.isfile(config.partition(":")[0]):
            raise SystemExit(f"error: config file {config!r} does not exist")
    runs = []
    for seed in seeds:
        for config in configs:
            for point in _grid(list(grid)):
                name = os.path.join(_config_name(config), *(p.replace("=", "-") for p in point))
                workdir = os.path.join(root, name, f"seed_{seed}")
                runs.append(Run(config, int(seed), (*fixed, *point), workdir))
    return runs


def is_finished(workdir: str) -> bool:
    """The last metrics row reached the run's end: the ``final_step`` a finished run writes to
    run_info.json (a method of short rounds ends before num_steps), else ``train.num_steps``."""
    try:
        with open(os.path.join(workdir, "config.json")) as f:
            num_steps = int(json.load(f)["train.num_steps"])
        try:
            with open(os.path.join(workdir, "run_info.json")) as f:
                num_steps = int(json.load(f).get("final_step") or num_steps)
        except (OSError, ValueError):
            pass
        with open(os.path.join(workdir, "metrics.jsonl")) as f:
            lines = [line for line in f if line.strip()]
        return bool(lines) and int(json.loads(lines[-1])["step"]) >= num_steps
    except (OSError, ValueError, KeyError):
        return False


def start(run: Run, *, env=None) -> subprocess.Popen:
    """Start training (or resuming) one run; its output goes to ``workdir/log.txt``."""
    os.makedirs(run.workdir, exist_ok=True)
    with open(os.path.join(run.workdir, "log.txt"), "a") as log:
        log.write(f"$ {' '.join(run.command())}\n")
        log.flush()
        return subprocess.Popen(run.command(), stdout=log, stderr=subprocess.STDOUT, env=env)


def execute(run: Run, *, env=None) -> int:
    """Train (or resume) one run to the end; its exit code."""
    return start(run, env=env).wait()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--root", required=True, help="directory holding one workdir per run")
    p.add_argument("--configs", nargs="+", required=True, help="config files")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE for every run")
    p.add_argument("--grid", action="append", default=[], help="KEY=V1,V2: one run per value")
    p.add_argument("--task-id", type=int, default=None, help="run only this one (a job array)")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    p.add_argument("--count", action="store_true", help="print the number of runs and exit")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = p.parse_args(argv)

    runs = plan(args.root, args.configs, args.seeds, args.set, args.grid)
    if args.count:
        print(len(runs))
        return 0
    if args.task_id is not None:
        if not 0 <= args.task_id < len(runs):
            raise SystemExit(f"error: --task-id {args.task_id} is outside 0..{len(runs) - 1}")
        runs = [runs[args.task_id]]
    if args.jobs < 1:
        raise SystemExit(f"error: --jobs must be ≥ 1, got {args.jobs}")
    t_start = time.time()
    todo, busy = [], []
    for i, run in enumerate(runs, 1):
        label = f"[{i}/{len(runs)}] {run.workdir}"
        if is_finished(run.workdir):
            print(f"{label}: finished, skipped", flush=True)
        elif args.dry_run:
            print(" ".join(run.command()))
        elif _busy(label, run):
            busy.append(run.workdir)
        else:
            todo.append((label, run))
    failed = [] if args.dry_run else _run_all(todo, args.jobs, busy)
    ok = len(runs) - len(failed) - len(busy)
    print(f"{ok}/{len(runs)} runs ok in {time.time() - t_start:.0f} s")
    for workdir in busy:
        print(f"busy, skipped (another process holds it; re-run the sweep later): {workdir}")
    for workdir in failed:
        print(f"failed: {workdir}", file=sys.stderr)
    return 1 if failed else 0


def _busy(label: str, run: Run) -> bool:
    """Whether another process holds the run's workdir (then it is said, and skipped)."""
    who = holder(run.workdir)
    if who is not None:
        print(f"{label}: busy ({who}), skipped", flush=True)
    return who is not None


def _lost_the_race(run: Run) -> bool:
    """A run that exited because another process took its workdir first (its log says so)."""
    try:
        with open(os.path.join(run.workdir, "log.txt")) as f:
            tail = f.read()[-4000:]
    except OSError:
        return False
    return _BUSY_LINE in tail.rsplit("$ ", 1)[-1]


def _run_all(todo: list, jobs: int, busy: list[str]) -> list[str]:
    """Run ``(label, run)`` pairs, ``jobs`` at a time, in order; the workdirs that failed.

    A run that another process took between the check and its start is added to ``busy``."""
    failed, running = [], []
    todo = list(todo)
    while todo or running:
        while todo and len(running) < jobs:
            label, run = todo.pop(0)
            if _busy(label, run):  # taken while the runs before it trained
                busy.append(run.workdir)
                continue
            print(f"{label}: running", flush=True)
            running.append((label, run, start(run), time.time()))
        for entry in list(running):
            label, run, proc, t0 = entry
            code = proc.poll()
            if code is None:
                continue
            running.remove(entry)
            if code == BUSY and _lost_the_race(run):
                print(f"{label}: busy (another process took it first), skipped", flush=True)
                busy.append(run.workdir)
                continue
            status = "done" if code == 0 else f"FAILED (exit {code}; see log.txt)"
            print(f"{label}: {status} in {time.time() - t0:.0f} s", flush=True)
            if code:
                failed.append(run.workdir)
        time.sleep(0.2)
    return failed


if __name__ == "__main__":
    sys.exit(main())
