"""The selecting step scored by a proxy against the same step scored by the student.

    python launch/bench_proxy.py                               # digits LeNet, online_hard
    python launch/bench_proxy.py --control cifar10 --npz PATH/cifar10.npz
    python launch/bench_proxy.py --control fashion_mnist --npz PATH/fashion_mnist.npz \
        [--proxy-model mlp1] [--proxy-width 0.25]

One process builds three steps of one config: ``random``'s (the batch), the selecting step
with the student scoring its candidates (``method.scorer=student``) and with a proxy
(``method.scorer=proxy``, ``method.proxy_width`` × the student's width), and times them
interleaved, block by block, on the same rows of candidates (medians of the blocks; this
machine is noisy, so only the ratios of one run mean anything). The target: the proxy's
step ≤ 0.5 × the student-scored step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np
from timing import machine

from lgl_spl import configlib, parallel
from lgl_spl.train.experiment import build_experiment
from lgl_spl.train.steps import StepBatch


def _config(args, method: str, scorer: str | None):
    if args.control:
        c = configlib.control_row(f"{args.control},{method}")
        c.data.npz_path = args.npz
    else:
        c = configlib.set_method(configlib.digits_student(), method)
    if scorer is not None:
        c.method.scorer = scorer
        c.method.proxy_width = args.proxy_width
        c.method.proxy_model = args.proxy_model
    c.train.compilation_cache = "off"
    return c


def _stepper(config, rows_of):
    """A function running ``n`` train steps of ``config``'s experiment on fixed rows."""
    exp = build_experiment(config)
    state = exp.initial_state().train
    rows = rows_of(exp)
    weights = np.ones(rows[0].shape, np.float32)
    mask = parallel.put_replicated(np.ones(exp.num_classes, bool), exp.mesh)
    x, y = exp.train_feed.x, exp.train_feed.y

    def run(n: int) -> float:
        nonlocal state
        t0 = time.perf_counter()
        for i in range(n):
            # Past the warm-up: every step scores (the schedule step does not matter here).
            batch = StepBatch(x, y, rows[i % len(rows)], weights)
            state, _ = exp.steps.train(state, batch, exp.step_key, np.float32(i), mask, {})
        jax.block_until_ready(state)
        return (time.perf_counter() - t0) / n

    return exp, run


def forward_alone(exp, proxy_config, args) -> None:
    """The eval-mode forward pass over one row of candidates, student and proxy, alone."""
    from lgl_spl import data as data_lib
    from lgl_spl.models import init_variables
    from lgl_spl.samplers import Proxy
    from lgl_spl.train.experiment import build_proxy

    proxy = build_proxy(Proxy(args.proxy_model, args.proxy_width), proxy_config, exp.num_classes)
    x = np.asarray(exp.dataset.x_train[: exp.plan_width])
    images = data_lib.augment(jax.random.key(0), jax.numpy.asarray(x), exp.spec, train=False)
    for name, model in (("student", exp.model), ("proxy", proxy)):
        params, stats = init_variables(model, jax.random.key(0), images[:1])
        variables = {"params": params, **({"batch_stats": stats} if stats else {})}
        f = jax.jit(lambda v, im, m=model: m.apply(v, im, train=False)[0])
        f(variables, images).block_until_ready()
        t0 = time.perf_counter()
        for _ in range(20):
            f(variables, images).block_until_ready()
        ms = (time.perf_counter() - t0) / 20 * 1e3
        print(f"  forward of {len(x)} candidates alone, {name}: {ms:.3f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--control", choices=("", "fashion_mnist", "cifar10"), default="")
    p.add_argument("--npz", default="", help="the control dataset's arrays")
    p.add_argument("--method", default="online_hard", help="online_hard | online_easy")
    p.add_argument("--proxy-model", default="", help="empty: the student's architecture")
    p.add_argument("--proxy-width", type=float, default=0.25)
    p.add_argument("--blocks", type=int, default=7)
    p.add_argument("--steps", type=int, default=50, help="steps per timed block")
    args = p.parse_args()
    if args.control and not args.npz:
        p.error("--control needs --npz")

    rng = np.random.default_rng(0)
    shared = {}

    def rows_of(width):
        def make(exp):
            key = (exp.num_train, width(exp))
            if key not in shared:  # the same candidates for both selecting steps
                shared[key] = [
                    rng.integers(0, exp.num_train, width(exp)).astype(np.int32) for _ in range(20)
                ]
            return shared[key]

        return make

    student_exp, student = _stepper(
        _config(args, args.method, "student"), rows_of(lambda e: e.plan_width)
    )
    # The warm-up rounds score nothing: start both selecting steps past them.
    warm = student_exp.step_selector.warmup_steps
    _, proxy = _stepper(_config(args, args.method, "proxy"), rows_of(lambda e: e.plan_width))
    _, plain = _stepper(_config(args, "random", None), rows_of(lambda e: e.batch_size))
    for run in (student, proxy, plain):
        run(warm + 20)  # compilation, the warm-up steps, caches
    times = {"random": [], "student": [], "proxy": []}
    for _ in range(args.blocks):
        for name, run in (("random", plain), ("student", student), ("proxy", proxy)):
            times[name].append(run(args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    c = student_exp.config
    print(machine())
    print(
        f"{args.control or 'digits'} {c.model.name} (width {c.model.width}), {args.method}: "
        f"{student_exp.plan_width} candidates -> batch {student_exp.batch_size}; proxy "
        f"{args.proxy_model or c.model.name} at {args.proxy_width} x the width; "
        f"{args.blocks} interleaved blocks of {args.steps} steps"
    )
    for name in times:
        lo, hi = min(times[name]) * 1e3, max(times[name]) * 1e3
        print(f"  {name:8s} {med[name] * 1e3:8.3f} ms/step (blocks {lo:.3f}-{hi:.3f}), "
              f"{med[name] / med['random']:.2f}x random")  # fmt: skip
    forward_alone(student_exp, _config(args, args.method, "proxy"), args)
    ratios = [a / b for a, b in zip(times["proxy"], times["student"], strict=True)]
    print(f"proxy-scored step / student-scored step: {med['proxy'] / med['student']:.3f} "
          f"(per-block range {min(ratios):.3f}-{max(ratios):.3f}; target <= 0.5)")  # fmt: skip


if __name__ == "__main__":
    main()
