"""Training throughput: the index-fed on-device step against host-fed numpy batches.

    python launch/bench_engine.py [--npz PATH_TO_fashion_mnist.npz] [--steps 300]

Both variants train the same LeNet with the same optimiser on the same batches.
The baseline is what a typical input pipeline does: gather and augment (crop +
flips) on the host in numpy, then copy the float batch to the device. Also
reports the scoring pass (loss, logits, features over the whole training set)
relative to one round of training, and images/s for the digits model.
Without --npz, Fashion-MNIST-shaped random images stand in.
"""

from __future__ import annotations

import argparse
import time

import jax
import ml_collections
import numpy as np
from timing import machine

from lgl_spl import data as data_lib
from lgl_spl import parallel
from lgl_spl.models import get_model
from lgl_spl.train.feeding import DeviceFeeder
from lgl_spl.train.state import create_train_state, make_optimizer, make_schedule
from lgl_spl.train.steps import make_steps


def train_config(lr=0.05):
    return ml_collections.ConfigDict(
        dict(
            optimizer="sgd",
            learning_rate=lr,
            momentum=0.9,
            nesterov=False,
            weight_decay=5e-4,
            lr_schedule="constant",
        )
    )


def host_augment(rng, batch_u8, spec):
    """The numpy baseline: pad-and-crop and flips per example, then normalise."""
    x = batch_u8.astype(np.float32) / 255.0
    if spec.crop_padding:
        p = spec.crop_padding
        padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        out = np.empty_like(x)
        for i, (dy, dx) in enumerate(rng.integers(0, 2 * p + 1, (len(x), 2))):
            out[i] = padded[i, dy : dy + x.shape[1], dx : dx + x.shape[2]]
        x = out
    if spec.hflip:
        flip = rng.random(len(x)) < 0.5
        x[flip] = x[flip, :, ::-1]
    if spec.vflip:
        flip = rng.random(len(x)) < 0.5
        x[flip] = x[flip, ::-1]
    return (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)


def run(name, x, y, spec, *, steps, batch, width=1.0):
    mesh = parallel.make_mesh()
    model = get_model("lenet", num_classes=10, width=width)
    cfg = train_config()
    tx, schedule = make_optimizer(cfg), make_schedule(cfg)
    sample = data_lib.augment(jax.random.key(0), x[:1], spec, train=False)
    fresh = lambda: parallel.put_replicated(
        create_train_state(model, tx, jax.random.key(0), sample), mesh
    )
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(y), (steps, batch)).astype(np.int32)
    weights = parallel.put_batch(np.ones(batch, np.float32), mesh)
    key = parallel.put_replicated(jax.random.key(1), mesh)
    mask = parallel.put_replicated(np.ones(10, bool), mesh)
    zero = np.int32(0)

    dev = make_steps(model, tx, schedule, spec, mesh)
    feed = DeviceFeeder(x, y, mesh)

    def on_device():
        state = fresh()
        jax.block_until_ready(dev.train(state, *feed.batch(idx[0]), weights, key, zero, mask))
        state = fresh()
        t0 = time.perf_counter()
        for i in range(steps):
            state, out = dev.train(state, *feed.batch(idx[i]), weights, key, zero, mask)
        jax.block_until_ready(state)
        return time.perf_counter() - t0

    host = make_steps(model, tx, schedule, data_lib.AugmentSpec(), mesh, host_batches=True)
    local = parallel.put_batch(np.arange(batch, dtype=np.int32), mesh)

    def host_fed():
        def one(state, i):
            xb = parallel.put_batch(host_augment(rng, x[idx[i]], spec), mesh)
            yb = parallel.put_batch(y[idx[i]], mesh)
            return host.train(state, xb, yb, local, weights, key, zero, mask)

        state = fresh()
        jax.block_until_ready(one(state, 0))
        state = fresh()
        t0 = time.perf_counter()
        for i in range(steps):
            state, out = one(state, i)
        jax.block_until_ready(state)
        return time.perf_counter() - t0

    t_dev = min(on_device() for _ in range(2))
    t_host = min(host_fed() for _ in range(2))

    # The scoring pass over the whole training set, against one round of training.
    state = fresh()
    score_batch = 1000
    order = np.arange(-(-len(y) // score_batch) * score_batch) % len(y)

    def score_all():
        outs = [
            dev.score(state, *feed.batch(order[i : i + score_batch]), mask)
            for i in range(0, len(order), score_batch)
        ]
        return jax.block_until_ready(outs)

    score_all()
    t0 = time.perf_counter()
    score_all()
    t_score = time.perf_counter() - t0
    round_time = t_dev / steps * (-(-len(y) // batch))
    print(
        f"{name}: index-fed on device {steps * batch / t_dev:8.0f} img/s | host-fed numpy "
        f"{steps * batch / t_host:8.0f} img/s | speed-up {t_host / t_dev:.2f}x | scoring pass "
        f"{t_score:.2f} s = {t_score / round_time:.2f} of a training round ({round_time:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--npz", default="")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.npz:
        d = data_lib.load(ml_collections.ConfigDict(dict(name="fashion_mnist", npz_path=args.npz)))
        x, y = d.x_train, d.y_train
    else:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (60_000, 28, 28, 1), dtype=np.uint8)
        y = rng.integers(0, 10, 60_000).astype(np.int32)
    run(
        "Fashion-MNIST LeNet (paper augmentation)",
        x,
        y,
        data_lib.default_augment("fashion_mnist"),
        steps=args.steps,
        batch=args.batch,
    )
    digits = data_lib.load(ml_collections.ConfigDict(dict(name="digits")))
    run(
        "digits LeNet (normalise only)",
        digits.x_train,
        digits.y_train,
        data_lib.default_augment("digits"),
        steps=args.steps,
        batch=64,
    )


if __name__ == "__main__":
    main()
