"""ImageNet input throughput: the old synchronous path against the Grain pipeline.

    python launch/bench_input.py [--images 1024 --epochs 2 --batch 64 --step-ms 100
                                  --workers 1,2 --repeats 1]

Writes ``--images`` generated JPEGs (400×350 to 500×375, either orientation, quality 90,
about 100 kB each: ImageNet's typical size) as a tfds array_record dataset in a temporary
directory, then times images/s of

- (a) the previous synchronous path, the baseline: tfds decodes the image, a centre square
  is resized by nearest neighbour, one batch at a time when the loop asks for it;
- the new transforms (RandomResizedCrop + flip, bilinear), still synchronous;
- the Grain pipeline, train transform, with 0 workers (threads of this process) and each
  of ``--workers`` worker processes; the eval transform (resize 256, centre crop 224)
  with the last of them;
- the old path and the pipeline again, each batch followed by a ``--step-ms`` sleep.

Every variant reads the same plan (``--epochs`` random permutations in batches of
``--batch``). Without the sleep the consumer only takes batches, so the figures are the
input side's ceiling. Pipeline rates include starting the workers; "first batch" is the
time to the first batch and "then" the rate after it. Variants alternate ``--repeats``
times; each reports its best pass, and the ratio is against the best baseline pass of
the same run (of its section).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def legacy_center_resize(img: np.ndarray, size: int) -> np.ndarray:
    """The previous ``RandomAccessSource.gather``: centre square, nearest-neighbour resize."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = img[top : top + side, left : left + side]
    idx = (np.arange(size) * side / size).astype(np.int64)
    img = img[idx][:, idx]
    return img if img.ndim == 3 else img[..., None]


def legacy_batches(decoded_source, keys: np.ndarray, size: int):
    from lgl_spl.data.sources import fetch

    for row in keys:
        items = fetch(decoded_source, row.tolist())
        images = np.stack([legacy_center_resize(np.asarray(it["image"]), size) for it in items])
        yield images, np.asarray([int(it["label"]) for it in items], np.int32)


def sync_batches(inp, indices: np.ndarray):
    for step, row in enumerate(indices):
        yield inp.batch(row, train=True, step=step)


def consume(make_batches, step_s: float) -> tuple[int, int, float, float]:
    """(images, first batch's images, total s, first-batch s) to take every batch.

    Sleeps ``step_s`` after each batch: the sleep stands for an accelerator step, which,
    dispatched asynchronously, leaves the host's cores free while it runs.
    """
    t0 = time.perf_counter()
    first, first_n, n = 0.0, 0, 0
    batches = make_batches()
    try:
        for images, *_ in batches:
            n += len(images)
            if not first:
                first, first_n = time.perf_counter() - t0, n
            time.sleep(step_s)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    return n, first_n, time.perf_counter() - t0, first


def main() -> None:
    from timing import machine

    from lgl_spl.data import synthetic_jpegs
    from lgl_spl.data.input_pipeline import HostInput, InputOptions
    from lgl_spl.data.random_access import RandomAccessSource
    from lgl_spl.data.sources import tfds_source

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--workers", default="1,2", help="worker counts of the pipeline variants")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--step-ms", type=float, default=100.0)
    args = p.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as data_dir:
        t0 = time.perf_counter()
        synthetic_jpegs.write(data_dir, num_train=args.images, seed=0)
        name = synthetic_jpegs.NAME
        src = RandomAccessSource(name, "train", data_dir=data_dir, image_size=args.size)
        kb = np.mean([len(src.data_source[i]["image"]) for i in range(0, len(src), 7)]) / 1e3
        print(
            f"{args.images} JPEGs (mean {kb:.0f} kB) written and labels read in "
            f"{time.perf_counter() - t0:.1f} s; {args.epochs} passes over them in batches of "
            f"{args.batch}, crops {args.size}"
        )
        # ``--epochs`` passes over the images: more batches to spread the workers' start-up
        # over, without the time to write more JPEGs.
        rng = np.random.default_rng(0)
        order = np.concatenate([rng.permutation(len(src)) for _ in range(args.epochs)])
        steps = len(order) // args.batch
        indices = order[: steps * args.batch].reshape(steps, args.batch).astype(np.int32)
        decoded = tfds_source(name, "train", data_dir)  # tfds decodes, as the old path did

        def pipeline(workers: int, train: bool = True):
            inp = HostInput(src, seed=0, options=InputOptions(num_workers=workers))
            if train:
                return lambda: inp.stream(indices, first_step=0)
            return lambda: inp.eval_stream(args.batch)

        def legacy():
            return legacy_batches(decoded, src.keys(indices), args.size)

        def new_sync():
            return sync_batches(HostInput(src), indices)

        step_s = args.step_ms / 1e3
        workers = [int(w) for w in args.workers.split(",")]

        def named(w: int) -> str:
            return f"grain, {w} worker{'s' if w > 1 else ''}"

        alone = {
            "(a) old sync: tfds decode, centre square, nearest": (legacy, 0.0),
            "new transforms, sync, train": (new_sync, 0.0),
            "grain, 0 workers (4 threads), train": (pipeline(0), 0.0),
        }
        alone.update({f"{named(w)}, train": (pipeline(w), 0.0) for w in workers})
        alone[f"{named(workers[-1])}, eval"] = (pipeline(workers[-1], train=False), 0.0)
        stepped = {"(a) old sync + step": (legacy, step_s)}
        stepped.update({f"{named(w)}, train + step": (pipeline(w), step_s) for w in workers})
        sections = {
            "input alone (the consumer only takes batches)": alone,
            f"with a {args.step_ms:.0f} ms accelerator step a batch (a sleep)": stepped,
        }
        best = {k: (0, 0, float("inf"), 0.0) for v in sections.values() for k in v}
        for _ in range(args.repeats):  # alternate, so load from elsewhere hits all alike
            for variants in sections.values():
                for k, (make, sleep) in variants.items():
                    run = consume(make, sleep)
                    if run[0] / run[2] > best[k][0] / best[k][2]:
                        best[k] = run
        for title, variants in sections.items():
            print(title)
            n0, _, total0, _ = best[next(iter(variants))]
            for k in variants:
                n, first_n, total, first = best[k]
                rate = n / total
                line = f"  {k:<50} {rate:5.0f} img/s  ratio {rate / (n0 / total0):4.2f}x"
                if k.startswith("grain"):
                    steady = (n - first_n) / (total - first)
                    line += f"  (first batch {first:.1f} s, then {steady:.0f} img/s)"
                print(line)


if __name__ == "__main__":
    main()
