"""The README's main job in PyTorch eager: the third column of bench_sidebyside.

    python launch/plain_torch_job.py --npz digits.npz [--steps 1500]

The work of ``launch/plain_jax_job.py`` (which see) in PyTorch: the same LeNet, SGD with
momentum 0.9 and weight decay 5e-4 under a cosine schedule from 0.05, batches of 64 from
a fresh permutation each pass (the last batch of a pass smaller, as PyTorch's loaders
do), a test evaluation every 250 steps, and the same JSON line. Needs the ``bench``
extra (``pip install -e '.[bench]'``, CPU PyTorch).
"""

from __future__ import annotations

import os
import time

T0 = float(os.environ.get("BENCH_T0", time.time()))

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--npz", required=True)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--eval_every", type=int, default=250)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(max(len(os.sched_getaffinity(0)), 1))

    with np.load(args.npz) as f:
        x_train, y_train = f["x_train"], f["y_train"].astype(np.int64)
        x_test, y_test = f["x_test"], f["y_test"].astype(np.int64)
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    num_classes = int(max(y_train.max(), y_test.max()) + 1)
    h, w_, c = x_train.shape[1:]

    def images(x):  # NHWC uint8 -> NCHW normalised
        return ((torch.from_numpy(x).float() / 255.0 - 0.5) / 0.25).permute(0, 3, 1, 2)

    xs, ys = images(x_train).contiguous(), torch.from_numpy(y_train)
    xt, yt = images(x_test).contiguous(), torch.from_numpy(y_test)
    flat = 16 * (h // 4) * (w_ // 4)
    model = nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(flat, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))
    )

    def evaluate():
        model.eval()
        with torch.no_grad():
            logits = model(xt)
            loss = F.cross_entropy(logits, yt, reduction="sum").item()
            correct = (logits.argmax(-1) == yt).sum().item()
        model.train()
        return correct / len(yt), loss / len(yt)

    def score():
        model.eval()
        with torch.no_grad():
            n = len(ys)
            size = -(-n // -(-n // 1000))
            parts = [
                F.cross_entropy(model(xs[i : i + size]), ys[i : i + size], reduction="none")
                for i in range(0, n, size)
            ]
        model.train()
        return torch.cat(parts).numpy()

    rng = np.random.default_rng(args.seed)
    n, b = len(ys), args.batch
    t_start = time.time()
    step, first_step_s, log = 0, None, []
    while step < args.steps:
        perm = torch.from_numpy(rng.permutation(n))
        for i in range(0, n, b):
            if step == args.steps:
                break
            idx = perm[i : i + b]
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step == 1:
                first_step_s = time.time() - t_start
                t_first = time.time()
            if step % args.eval_every == 0 or step == args.steps:
                log.append((step, *evaluate()))
    t_done = time.time()
    t = time.perf_counter()
    evaluate()
    eval_s = time.perf_counter() - t
    score()
    t = time.perf_counter()
    score()
    score_s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "startup_s": t_start - T0,
                "first_step_s": first_step_s,
                "step_ms": 1e3 * (t_done - t_first) / max(args.steps - 1, 1),
                "job_s": t_done - T0,
                "eval_s": eval_s,
                "score_s": score_s,
                "test_accuracy": log[-1][1],
            }
        )
    )


if __name__ == "__main__":
    main()
