"""Reading a folder dataset (``data.name = "folder"``): the loader against a plain Pillow loop.

    python launch/bench_folder.py [--small 5000 --large 1000 --repeats 2]

Writes two trees of generated images in a temporary directory, each split 80/20 into
``train/`` and ``test/`` over 10 class folders:

- ``--small`` 32×32 PNGs (CIFAR-like), read at 32 (no resize);
- ``--large`` JPEGs of 400×350 to 500×375 (quality 90, ImageNet-like), resized to 64.

For each tree it times

- (a) the baseline: one thread opening, converting and resizing every file in turn with
  Pillow (what a user's own loop would do), with ``os.walk`` for the listing;
- the loader's check alone (scan the tree, read every header, PNG checksums): what a
  streamed dataset costs before training;
- the whole in-memory load, ``lgl_spl.data.load`` (scan, check, then a threaded decode).

Variants alternate ``--repeats`` times; each reports its best pass, the ratio is the
baseline's time over the variant's, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from functools import partial

import numpy as np
from PIL import Image

from lgl_spl.configlib import base_config
from lgl_spl.data import folder
from lgl_spl.data import load as load_dataset
from lgl_spl.data.synthetic_jpegs import encode_jpeg, natural_image


def write_tree(root: str, n: int, kind: str, seed: int = 0) -> int:
    """``n`` images in ``root/{train,test}/class_<c>/``; returns the bytes written."""
    rng = np.random.default_rng(seed)
    total = 0
    for i in range(n):
        split = "test" if (i // 10) % 5 == 4 else "train"
        d = os.path.join(root, split, f"class_{i % 10}")
        os.makedirs(d, exist_ok=True)
        if kind == "png":
            path = os.path.join(d, f"{i:06d}.png")
            Image.fromarray(natural_image(rng, 32, 32)).save(path)
        else:
            h, w = int(rng.integers(350, 376)), int(rng.integers(400, 501))
            path = os.path.join(d, f"{i:06d}.jpg")
            with open(path, "wb") as f:
                f.write(encode_jpeg(natural_image(rng, h, w)))
        total += os.path.getsize(path)
    return total


def baseline(root: str, size: int) -> np.ndarray:
    paths = sorted(
        os.path.join(d, f) for d, _, files in os.walk(root) for f in files if not f[0] == "."
    )
    out = np.empty((len(paths), size, size, 3), np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as img:
            out[i] = np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
    return out


def check_only(root: str) -> None:
    folder.probe(folder.scan(root))


def load(root: str, size: int) -> None:
    cfg = base_config().data
    cfg.name, cfg.path, cfg.image_size = "folder", root, size
    assert load_dataset(cfg).train_source is None  # in memory


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", type=int, default=5000)
    p.add_argument("--large", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Pillow {Image.__version__}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind, n, size in (("png", args.small, 32), ("jpeg", args.large, 64)):
            if not n:
                continue
            root = os.path.join(tmp, kind)
            t0 = time.perf_counter()
            written = write_tree(root, n, kind)
            print(
                f"{n} {kind.upper()}s (mean {written / n / 1e3:.1f} kB) written in "
                f"{time.perf_counter() - t0:.1f} s, read at {size}×{size}"
            )
            variants = {
                "(a) one Pillow loop (os.walk, open, resize)": partial(baseline, root, size),
                "check alone (scan, headers, PNG checksums)": partial(check_only, root),
                "data.load in memory (check + threaded decode)": partial(load, root, size),
            }
            times = {name: [] for name in variants}
            for _ in range(args.repeats):
                for name, fn in variants.items():
                    times[name].append(best(fn, 1))
            base = min(times[next(iter(variants))])
            for name, ts in times.items():
                t = min(ts)
                print(f"  {name:<50} {t:6.2f} s  {n / t:7.0f} img/s  ratio {base / t:.2f}x")


if __name__ == "__main__":
    main()
