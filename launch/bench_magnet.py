"""magnet_loss forward + backward, jitted.

    python launch/bench_magnet.py

Baseline in the same run: a direct PyTorch transcription of Eq. 1 when torch is
installed (the reference implementation is PyTorch), otherwise the numbers
stand alone.
"""

from __future__ import annotations

import jax
import numpy as np
from timing import best_time, machine

import lgl_spl as L

SHAPES = [(8, 8, 64), (12, 4, 256)]
_step = jax.jit(jax.value_and_grad(lambda x, c: L.magnet_loss(x, c)[0]))


def torch_step(torch, r, classes):
    """Eq. 1 in PyTorch (σ², log-sum-exp), forward + backward."""
    x = torch.tensor(r, requires_grad=True)
    c = torch.tensor(classes)
    mu = x.mean(1)
    own = ((x - mu[:, None]) ** 2).sum(-1)
    var = own.sum() / (x.shape[0] * x.shape[1] - 1)
    all_sq = ((x[:, :, None, :] - mu[None, None]) ** 2).sum(-1)
    other = (c[:, None] != c[None, :])[:, None, :]
    logits = torch.where(other, -all_sq / (2 * var), torch.tensor(-1e30))
    loss = torch.relu(own / (2 * var) + 1.0 + torch.logsumexp(logits, -1)).mean()
    loss.backward()
    return x.grad


def main() -> None:
    print(f"machine: {machine()}")
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
    for m, d, dim in SHAPES:
        rng = np.random.default_rng(0)
        r = rng.normal(size=(m, d, dim)).astype(np.float32)
        classes = np.arange(m) % max(m // 2, 2)
        ours = best_time(lambda r=r, c=classes: _step(r, c), repeats=200)
        line = f"{m}x{d}x{dim}: lgl_spl {ours * 1e3:.3f} ms"
        if torch is not None:
            base = best_time(lambda r=r, c=classes: torch_step(torch, r, c), repeats=200)
            line += f" | PyTorch {base * 1e3:.3f} ms | ratio {ours / base:.2f}x"
        print(line)


if __name__ == "__main__":
    main()
