"""Median time of one config's train step, called as the loop calls it.

    taskset -c 0 python launch/bench_train_step.py configs/digits_online_hard.py \\
        [--blocks 5] [--steps 300]

Rows of the plan's width (the batch, or a step-level selector's candidates) drawn once,
cycled; numpy rows and schedule step, as the loop passes them. Run it in two checkouts,
alternating, to compare a change to the step: the compiled program is the same config's
in both, so the ratio of the medians is the change's cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="a config file, e.g. configs/digits_online_hard.py")
    p.add_argument("--blocks", type=int, default=5)
    p.add_argument("--steps", type=int, default=300, help="steps per timed block")
    args = p.parse_args()

    import importlib.util

    import jax
    import numpy as np

    from lgl_spl import parallel
    from lgl_spl.train.experiment import build_experiment
    from lgl_spl.train.steps import StepBatch

    spec = importlib.util.spec_from_file_location("bench_config", args.config)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.train.compilation_cache = "off"
    exp = build_experiment(config)
    state = exp.initial_state().train
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, exp.num_train, exp.plan_width).astype(np.int32) for _ in range(50)]
    weights = np.ones(exp.plan_width, np.float32)
    mask = parallel.put_replicated(np.ones(exp.num_classes, bool), exp.mesh)
    x, y = exp.train_feed.x, exp.train_feed.y

    def block(n: int) -> float:
        nonlocal state
        t0 = time.perf_counter()
        for i in range(n):
            batch = StepBatch(x, y, rows[i % 50], weights)
            state, _ = exp.steps.train(state, batch, exp.step_key, np.float32(i), mask, {})
        jax.block_until_ready(state)
        return (time.perf_counter() - t0) / n

    block(100)  # compilation and warm-up
    times = [block(args.steps) for _ in range(args.blocks)]
    print(f"jax {jax.__version__}, {jax.devices()}, {args.blocks} blocks of {args.steps} steps")
    print(f"{args.config}: {statistics.median(times) * 1e3:.3f} ms/step (median; "
          f"blocks {min(times) * 1e3:.3f}-{max(times) * 1e3:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
