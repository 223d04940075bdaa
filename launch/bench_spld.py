"""spld_select at ImageNet scale against one numpy argsort of packed 64-bit keys.

    python launch/bench_spld.py [--n 1281167] [--groups 8000]

The floor is a single numpy sort of (group << 32 | loss bits): any exact
sort-based selection needs at least that. Target: spld_select ≤ 5× the floor.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from timing import best_time, machine

import lgl_spl as L
from lgl_spl.core import selection


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_281_167)
    parser.add_argument("--groups", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    losses = rng.gamma(2.0, 0.5, args.n).astype(np.float32)
    groups = rng.integers(0, args.groups, args.n).astype(np.int32)
    p = L.pace(losses, 2)
    lam, gamma = float(p.lam), float(p.gamma)
    packed = (groups.astype(np.uint64) << np.uint64(32)) | losses.view(np.uint32).astype(np.uint64)

    jl, jg = jnp.asarray(losses), jnp.asarray(groups)
    floor = best_time(lambda: np.argsort(packed), repeats=args.repeats)
    fast = best_time(
        lambda: L.spld_select(jl, jg, lam, gamma, num_groups=args.groups), repeats=args.repeats
    )
    sort_based = jax.jit(selection._spld_sorted, static_argnames=("num_groups",))
    sorted_time = best_time(
        lambda: sort_based(jl, jg, jnp.float32(lam), jnp.float32(gamma), num_groups=args.groups),
        repeats=args.repeats,
    )
    same = np.array_equal(
        np.asarray(L.spld_select(jl, jg, lam, gamma, num_groups=args.groups)),
        np.asarray(
            sort_based(jl, jg, jnp.float32(lam), jnp.float32(gamma), num_groups=args.groups)
        ),
    )
    print(f"machine: {machine()}")
    print(f"N={args.n:,} groups={args.groups:,} selected={p.fraction:.3f} target fraction")
    print(f"numpy argsort of packed keys (floor): {floor * 1e3:8.1f} ms")
    print(f"spld_select (bisection, jitted):      {fast * 1e3:8.1f} ms  ratio {fast / floor:.2f}x")
    print(
        f"sort-based jitted SPLD (for contrast): {sorted_time * 1e3:7.1f} ms  ratio "
        f"{sorted_time / floor:.2f}x"
    )
    print(f"identical selections: {same}")


if __name__ == "__main__":
    main()
