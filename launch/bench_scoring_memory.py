"""Peak host memory of one scoring pass at ImageNet scale, by what the method asks for.

    python launch/bench_scoring_memory.py [--num 1281167 --classes 1000 --features 512]

A scoring pass (eval mode, every training example) through the real evaluator and
jitted scoring step, with a synthetic model (two dense layers from a one-pixel image:
logits [B, C] and features [B, F]) and synthetic data, so N can be ImageNet's on a
CPU. Each variant runs in a fresh process and reports that process's peak resident
memory (``ru_maxrss``), against the same process's memory just before the pass:

- ``all``: losses, logits and features of every example (what every pass kept before);
- ``losses``: SPL, SPL_INV, SPLD and ADVisE after their first round;
- ``losses+features``: SPLD's first round (its groups cluster the student's features);
- ``class_entropies``: LGL's dissimilar/similar orders (per-class sums on the device).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

VARIANTS = {
    "all": ("losses", "logits", "features"),
    "losses": ("losses",),
    "losses+features": ("losses", "features"),
    "class_entropies": ("class_entropies",),
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one_pass(num: int, classes: int, features: int, variant: str) -> dict:
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import ml_collections
    import numpy as np

    from lgl_spl import data as data_lib
    from lgl_spl import parallel
    from lgl_spl.timing import PhaseTimer
    from lgl_spl.train.evaluator import Evaluator
    from lgl_spl.train.feeding import DeviceFeeder
    from lgl_spl.train.state import create_train_state, make_optimizer, make_schedule
    from lgl_spl.train.steps import make_steps

    class Synthetic(nn.Module):
        @nn.compact
        def __call__(self, x, *, train):
            del train
            x = x.reshape(x.shape[0], -1)
            return nn.Dense(classes, name="head")(x), nn.Dense(features)(x)

    cfg = ml_collections.ConfigDict(
        dict(optimizer="sgd", learning_rate=0.1, momentum=0.0, weight_decay=0.0)
    )
    mesh = parallel.make_mesh()
    model, tx = Synthetic(), make_optimizer(cfg)
    spec = data_lib.AugmentSpec()
    steps = make_steps(model, tx, make_schedule(cfg), spec, mesh)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (num, 1, 1, 1), dtype=np.uint8)
    y = rng.integers(0, classes, num).astype(np.int32)
    feed = DeviceFeeder(x, y, mesh)
    sample = data_lib.augment(jax.random.key(0), jnp.asarray(x[:1]), spec, train=False)
    state = parallel.put_replicated(create_train_state(model, tx, jax.random.key(0), sample), mesh)
    evaluator = Evaluator(steps, mesh, eval_batch_size=4096, timer=PhaseTimer())
    mask = np.ones(classes, bool)
    want = VARIANTS[variant]
    small = DeviceFeeder(x[:8192], y[:8192], mesh)  # compile on a small pass first
    evaluator.score(state, small, mask, y[:8192], want)
    before = _peak_mb()
    t0 = time.perf_counter()
    signals = evaluator.score(state, feed, mask, y, want)
    seconds = time.perf_counter() - t0
    kept = sum(
        a.nbytes
        for a in (signals.losses, signals.logits, signals.features, signals.class_entropies)
        if a is not None
    )
    return {
        "variant": variant,
        "peak_mb": _peak_mb(),
        "before_mb": before,
        "kept_mb": kept / 2**20,
        "seconds": seconds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num", type=int, default=1_281_167)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:  # a child process: one pass, one JSON line
        print(json.dumps(one_pass(args.num, args.classes, args.features, args.variant)))
        return
    print(
        f"scoring pass over N = {args.num:,} examples, C = {args.classes} classes, "
        f"F = {args.features} features (synthetic model and data)"
    )
    results = {}
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--variant", variant, "--num", str(args.num)]
        cmd += ["--classes", str(args.classes), "--features", str(args.features)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    base = results["all"]["peak_mb"] - results["all"]["before_mb"]
    print(f"{'what is kept':<18}{'kept on host':>14}{'pass peak':>12}{'vs all':>9}{'time':>9}")
    for variant, r in results.items():
        extra = r["peak_mb"] - r["before_mb"]
        print(
            f"{variant:<18}{r['kept_mb']:>11.0f} MB{extra:>9.0f} MB{extra / base:>8.2f}x"
            f"{r['seconds']:>8.1f}s"
        )
    print("pass peak: the process's peak resident memory minus its peak before the pass")


if __name__ == "__main__":
    main()
