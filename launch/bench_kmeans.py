"""kmeans_per_class against scikit-learn's KMeans run class by class.

    python launch/bench_kmeans.py [--classes 100 10]

50,000 × 64-d points, 8 clusters per class, 20 Lloyd iterations, k-means++
included, tol=0. Targets: ≥ 3× faster at 100 classes, no slower at 10, inertia
within 2% of scikit-learn's.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np
from sklearn.cluster import KMeans
from timing import best_time, machine

import lgl_spl as L


def sklearn_per_class(points, labels, num_classes, k, iters):
    inertia = 0.0
    for c in range(num_classes):
        km = KMeans(k, n_init=1, max_iter=iters, tol=0, random_state=c).fit(points[labels == c])
        inertia += km.inertia_
    return inertia


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--classes", type=int, nargs="+", default=[100, 10])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for num_classes in args.classes:
        rng = np.random.default_rng(num_classes)
        labels = rng.permutation(np.arange(args.n) % num_classes).astype(np.int32)
        # Class-dependent mixtures, so clustering has structure to find.
        centres = rng.normal(size=(num_classes, args.k * 2, args.dim)) * 2
        which = rng.integers(0, args.k * 2, args.n)
        points = (centres[labels, which] + rng.normal(size=(args.n, args.dim))).astype(np.float32)

        ours_inertia = float(
            L.kmeans_per_class(
                jax.random.key(0), points, labels, num_classes, args.k, num_iters=args.iters
            ).inertia
        )
        ours = best_time(
            lambda pts=points, lab=labels, c=num_classes: L.kmeans_per_class(
                jax.random.key(0), pts, lab, c, args.k, num_iters=args.iters
            ),
            repeats=args.repeats,
        )
        sk_inertia = sklearn_per_class(points, labels, num_classes, args.k, args.iters)
        sk = best_time(
            lambda pts=points, lab=labels, c=num_classes: sklearn_per_class(
                pts, lab, c, args.k, args.iters
            ),
            repeats=args.repeats,
            warmup=0,
        )
        print(
            f"{num_classes:4d} classes: kmeans_per_class {ours * 1e3:8.1f} ms | scikit-learn "
            f"{sk * 1e3:8.1f} ms | speed-up {sk / ours:5.2f}x | inertia ours/sklearn "
            f"{ours_inertia / sk_inertia:.4f}"
        )


if __name__ == "__main__":
    main()
