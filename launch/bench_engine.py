"""Training throughput: the index-fed on-device step against host-fed numpy batches.

    python launch/bench_engine.py --npz PATH/fashion_mnist.npz [--blocks 20 --block-steps 10]

Both variants train the same LeNet (the CPU experiment configs' student) with the
same optimiser on the same index batches:

- on device: what ``lgl_spl.train`` does. The split sits on the device; a step
  receives only the batch's indices and gathers and augments inside the jitted step;
- host-fed: what a typical input pipeline does. Gather and augment in numpy
  (the same transforms: rotation, translation, crop, flips; vectorised over the
  batch), then copy the float batch to the device for the same jitted update.

The variants alternate in short blocks, so load from other processes hits them
alike: images/s are medians over blocks, ratios the median of the ratios
within each cycle (best blocks and per-cycle ranges alongside). The
scoring pass (eval-mode loss, logits and features for every training example)
is timed the same way, in the loop's batches, and reported against one round
(ceil(N / batch) updates) of on-device training. Without --npz, random images
of Fashion-MNIST's shape stand in.
"""

from __future__ import annotations

import argparse
import statistics
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
from lgl_spl.train.steps import StepBatch, make_steps


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


def _shift(rng, x, pad):
    """Zero-padded translation by up to ±pad pixels per image (== pad + random crop)."""
    b, h, w = x.shape[:3]
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy, dx = rng.integers(-pad, pad + 1, (2, b))
    rows = (pad + dy)[:, None] + np.arange(h)[None, :]
    cols = (pad + dx)[:, None] + np.arange(w)[None, :]
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _rotate(rng, x, max_deg):
    """Bilinear rotation about the centre, zeros outside, one angle per image."""
    b, h, w, _ = x.shape
    angle = np.deg2rad(rng.uniform(-max_deg, max_deg, b)).astype(np.float32)
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    yy, xx = np.meshgrid(
        np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij"
    )
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    sy = cos * (yy - cy) - sin * (xx - cx) + cy
    sx = sin * (yy - cy) + cos * (xx - cx) + cx
    y0, x0 = np.floor(sy).astype(np.int32), np.floor(sx).astype(np.int32)
    fy, fx = (sy - y0)[..., None], (sx - x0)[..., None]
    bi = np.arange(b)[:, None, None]

    def at(yi, xi):
        ok = ((yi >= 0) & (yi < h) & (xi >= 0) & (xi < w))[..., None]
        return np.where(ok, x[bi, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)], 0.0)

    top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
    bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def host_augment(rng, batch_u8, spec):
    """The numpy baseline: the device augmentation's transforms, vectorised over the batch."""
    x = batch_u8.astype(np.float32) / 255.0
    if spec.max_rotate_deg:
        x = _rotate(rng, x, spec.max_rotate_deg)
    for pad in (spec.crop_padding, spec.max_translate):
        if pad:
            x = _shift(rng, x, pad)
    if spec.hflip:
        flip = rng.random(len(x)) < 0.5
        x[flip] = x[flip, :, ::-1]
    if spec.vflip:
        flip = rng.random(len(x)) < 0.5
        x[flip] = x[flip, ::-1]
    return (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)


def run(name, x, y, spec, *, batch, blocks, block_steps, eval_batch=1000):
    mesh = parallel.make_mesh()
    model = get_model("lenet", num_classes=10)
    cfg = train_config()
    tx, schedule = make_optimizer(cfg), make_schedule(cfg)
    sample = data_lib.augment(jax.random.key(0), x[:1], spec, train=False)
    state0 = jax.device_get(create_train_state(model, tx, jax.random.key(0), sample))
    states = {
        "device": parallel.put_replicated(state0, mesh),
        "host": parallel.put_replicated(state0, mesh),
    }
    rng = np.random.default_rng(0)
    weights = parallel.put_batch(np.ones(batch, np.float32), mesh)
    key = parallel.put_replicated(jax.random.key(1), mesh)
    mask = parallel.put_replicated(np.ones(10, bool), mesh)
    zero = np.float32(0)

    dev = make_steps(model, tx, schedule, spec, mesh)
    host = make_steps(model, tx, schedule, data_lib.AugmentSpec(), mesh, host_batches=True)
    feed = DeviceFeeder(x, y, mesh)
    local = parallel.put_batch(np.arange(batch, dtype=np.int32), mesh)

    def device_block(idx):
        state = states["device"]
        for b in idx:
            state, _ = dev.train(state, StepBatch(*feed.batch(b), weights), key, zero, mask, {})
        states["device"] = jax.block_until_ready(state)

    def host_block(idx):
        state = states["host"]
        for b in idx:
            xb = parallel.put_batch(host_augment(rng, x[b], spec), mesh)
            yb = parallel.put_batch(y[b], mesh)
            state, _ = host.train(state, StepBatch(xb, yb, local, weights), key, zero, mask, {})
        states["host"] = jax.block_until_ready(state)

    n = len(y)
    num = parallel.pass_batch_size(n, eval_batch, mesh.size)  # the loop's scoring batches
    score_batches = max(1, block_steps * batch // num)

    ones = parallel.put_batch(np.ones(num, np.float32), mesh)
    everything = ("losses", "logits", "features")  # what every scoring pass computed before

    def score_block(_):
        for i in rng.integers(0, n, score_batches):
            idx = np.minimum(np.arange(i, i + num), n - 1).astype(np.int32)
            out = dev.score(states["device"], StepBatch(*feed.batch(idx), ones), mask, everything)
            jax.device_get(out)

    variants = {
        "device": (device_block, block_steps * batch),
        "host": (host_block, block_steps * batch),
        "score": (score_block, score_batches * num),
    }
    for fn, _ in variants.values():  # compile and warm up
        fn(rng.integers(0, n, (2, batch)).astype(np.int32))
    rates = {k: [] for k in variants}
    for _ in range(blocks):
        idx = rng.integers(0, n, (block_steps, batch)).astype(np.int32)
        for k, (fn, images) in variants.items():
            t0 = time.perf_counter()
            fn(idx)
            rates[k].append(images / (time.perf_counter() - t0))
    round_images = -(-n // batch) * batch
    # Ratios within one cycle (the variants ran back to back), then their median.
    speedup = [d / h for d, h in zip(rates["device"], rates["host"], strict=True)]
    share = [
        (n / s) / (round_images / d) for s, d in zip(rates["score"], rates["device"], strict=True)
    ]
    best = {k: max(v) for k, v in rates.items()}
    med = {k: statistics.median(v) for k, v in rates.items()}
    spread = lambda v: f"{min(v):.2f}–{max(v):.2f}"  # noqa: E731
    print(f"{name}: N = {n}, batch {batch}, {blocks} cycles of {block_steps} steps a variant")
    print(
        f"  index-fed on device {med['device']:7.0f} img/s (best {best['device']:.0f}) | "
        f"host-fed numpy {med['host']:7.0f} img/s (best {best['host']:.0f}) | speed-up "
        f"{statistics.median(speedup):.2f}x (per-cycle range {spread(speedup)})"
    )
    print(
        f"  scoring pass {n / med['score']:.1f} s ({med['score']:.0f} img/s, batches of {num}) = "
        f"{statistics.median(share):.2f} of a training round ({round_images / med['device']:.1f} s)"
        f" (per-cycle range {spread(share)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--npz", default="")
    parser.add_argument("--train-limit", type=int, default=0, help="0: the whole split")
    parser.add_argument("--batch", type=int, default=64, help="the CPU configs' batch")
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--block-steps", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.npz:
        cfg = dict(name="fashion_mnist", npz_path=args.npz, train_limit=args.train_limit)
        d = data_lib.load(ml_collections.ConfigDict(cfg))
        x, y = d.x_train, d.y_train
    else:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (60_000, 28, 28, 1), dtype=np.uint8)
        y = rng.integers(0, 10, 60_000).astype(np.int32)
    kw = dict(batch=args.batch, blocks=args.blocks, block_steps=args.block_steps)
    spec = data_lib.default_augment("fashion_mnist")
    run(
        "Fashion-MNIST LeNet, paper augmentation (rotate, translate, crop, flips)", x, y, spec, **kw
    )
    digits = data_lib.load(ml_collections.ConfigDict(dict(name="digits")))
    kw["block_steps"] *= 4  # 8×8 images: ~10× faster steps; keep blocks long enough to time
    run(
        "digits LeNet, normalise only",
        digits.x_train,
        digits.y_train,
        data_lib.default_augment("digits"),
        **kw,
    )


if __name__ == "__main__":
    main()
