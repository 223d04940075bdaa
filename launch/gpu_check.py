"""The accelerator check: one command, a few minutes on one GPU, JSON and markdown out.

    python launch/gpu_check.py --npz PATH/cifar10.npz --out docs/gpu     # on the GPU machine
    python launch/gpu_check.py --tiny --out /tmp/check                   # anywhere, in seconds

It measures, in one process:

1. the devices and the versions of jax, jaxlib, flax, optax (and torch if importable);
2. CIFAR-10 ResNet-18 (post-activation, SPL-ADVisE's student) training images/s with
   the index-fed on-device step, in float32 and in bfloat16 compute;
3. the same network in PyTorch (eager, channels-last, float32 and bf16 autocast, the
   same on-device augmentation) when torch is importable, for a reference;
4. the scoring pass's images/s (eval mode, per-example losses of the training set);
5. every method's wall time relative to ``random`` at equal updates, two epochs of a
   CIFAR-10 subset through ``train_and_evaluate`` (the real loop, checkpoints and all);
6. the peak device memory and the number of XLA compilations.

``--tiny`` shrinks everything (a few hundred synthetic images, width 1/16, a handful of
steps) so that the test suite runs the whole script on a CPU and it never rots.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

METHODS = ("random", "spl", "spl_inv", "spld", "advise", "lgl_r2")  # 2 stages: 2 epochs
_COMPILES = []


def _count_compiles(event: str, duration: float, **_) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILES.append(duration)


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("jax", "jaxlib", "flax", "optax", "orbax.checkpoint", "torch"):
        try:
            out[name] = importlib.import_module(name).__version__
        except Exception:  # noqa: BLE001 - absent or broken: reported as such
            out[name] = None
    return out


def devices() -> list[dict]:
    return [
        {"id": d.id, "platform": d.platform, "kind": d.device_kind, "process": d.process_index}
        for d in jax.devices()
    ]


def peak_device_memory() -> int | None:
    stats = [d.memory_stats() for d in jax.local_devices()]
    peaks = [s.get("peak_bytes_in_use") for s in stats if s]
    return max(peaks) if peaks and all(p is not None for p in peaks) else None


def load_cifar(npz: str | None, tiny: bool):
    """uint8 NHWC train images and labels: the npz's, or synthetic ones with --tiny."""
    if npz:
        with np.load(npz) as f:
            x, y = f["x_train"], f["y_train"].astype(np.int32)
        return (x[:512], y[:512]) if tiny else (x, y)
    if not tiny:
        raise SystemExit("error: --npz PATH/cifar10.npz is required (or --tiny)")
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (512, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 512)


# ---- JAX: the project's own step ----------------------------------------------------------


def jax_throughput(x, y, *, dtype: str, batch: int, steps: int, width: float) -> dict:
    """Images/s of the index-fed train step and of the scoring pass (ResNet-18, CIFAR-10)."""
    import ml_collections

    from lgl_spl import data as data_lib
    from lgl_spl import parallel
    from lgl_spl.models import get_model
    from lgl_spl.timing import PhaseTimer
    from lgl_spl.train.evaluator import Evaluator
    from lgl_spl.train.feeding import DeviceFeeder
    from lgl_spl.train.state import create_train_state, make_optimizer, make_schedule
    from lgl_spl.train.steps import StepBatch, make_steps

    cfg = ml_collections.ConfigDict(
        dict(optimizer="sgd", learning_rate=0.1, momentum=0.9, nesterov=False, weight_decay=5e-4)
    )
    mesh = parallel.make_mesh()
    model = get_model("resnet18", num_classes=10, width=width, compute_dtype=dtype)
    tx = make_optimizer(cfg)
    spec = data_lib.default_augment("cifar10")
    train_steps = make_steps(model, tx, make_schedule(cfg), spec, mesh)
    feed = DeviceFeeder(x, y, mesh)
    sample = data_lib.augment(jax.random.key(0), jnp.asarray(x[:1]), spec, train=False)
    state = parallel.put_replicated(create_train_state(model, tx, jax.random.key(0), sample), mesh)
    key = parallel.put_replicated(jax.random.key(1), mesh)
    mask = parallel.put_replicated(np.ones(10, bool), mesh)
    weights = parallel.put_batch(np.ones(batch, np.float32), mesh)
    rng = np.random.default_rng(0)
    plan = rng.integers(0, len(y), (steps + 3, batch)).astype(np.int32)

    def run(rows):
        nonlocal state
        out = None
        for row in rows:
            batch = StepBatch(*feed.batch(row), weights)
            state, out = train_steps.train(state, batch, key, jnp.float32(0), mask, {})
        jax.block_until_ready(out)

    run(plan[:3])  # compile and warm up
    t0 = time.perf_counter()
    run(plan[3:])
    train_s = time.perf_counter() - t0
    evaluator = Evaluator(train_steps, mesh, eval_batch_size=max(batch, 1024), timer=PhaseTimer())
    evaluator.score(state, feed, np.ones(10, bool), y, ("losses",))  # compile
    t0 = time.perf_counter()
    evaluator.score(state, feed, np.ones(10, bool), y, ("losses",))
    score_s = time.perf_counter() - t0
    return {
        "train_images_per_s": steps * batch / train_s,
        "scoring_images_per_s": len(y) / score_s,
        "batch": batch,
        "steps_timed": steps,
    }


# ---- PyTorch: the same network, for reference ---------------------------------------------


def torch_throughput(x, y, *, bf16: bool, batch: int, steps: int, width: float) -> dict | None:
    """Images/s of the same ResNet-18 in PyTorch eager (channels-last; bf16 autocast)."""
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    device = "cuda" if torch.cuda.is_available() else "cpu"

    def ch(c):
        return max(1, round(c * width))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.short = nn.Sequential()
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, t):
            out = torch.relu(self.b1(self.c1(t)))
            return torch.relu(self.b2(self.c2(out)) + self.short(t))

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, ch(64), 3, 1, 1, bias=False), nn.BatchNorm2d(ch(64)), nn.ReLU()
            )
            layers, cin = [], ch(64)
            for i, c in enumerate((64, 128, 256, 512)):
                for j in range(2):
                    layers.append(Block(cin, ch(c), 2 if i > 0 and j == 0 else 1))
                    cin = ch(c)
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(cin, 10)

        def forward(self, t):
            return self.head(self.body(self.stem(t)).mean((2, 3)))

    net = ResNet18().to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    images = torch.as_tensor(x, device=device).permute(0, 3, 1, 2)  # uint8 NCHW
    labels = torch.as_tensor(np.asarray(y, np.int64), device=device)
    mean = torch.tensor((0.4914, 0.4822, 0.4465), device=device).view(1, 3, 1, 1)
    std = torch.tensor((0.2470, 0.2435, 0.2616), device=device).view(1, 3, 1, 1)
    gen = torch.Generator(device=device).manual_seed(0)

    def augment(idx):
        # Pad-4 random crop and horizontal flip per example, on the device (as the JAX step).
        b = idx.shape[0]
        t = torch.nn.functional.pad(images[idx].float() / 255.0, (4, 4, 4, 4))
        dy = torch.randint(0, 9, (b,), device=device, generator=gen)
        dx = torch.randint(0, 9, (b,), device=device, generator=gen)
        rows = (dy[:, None] + torch.arange(32, device=device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(32, device=device))[:, None, None, :]
        t = t[torch.arange(b, device=device)[:, None, None, None], torch.arange(3, device=device)[
            None, :, None, None], rows, cols]  # fmt: skip
        flip = torch.rand(b, device=device, generator=gen) < 0.5
        t = torch.where(flip[:, None, None, None], t.flip(3), t)
        return ((t - mean) / std).contiguous(memory_format=torch.channels_last)

    def step(idx):
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(net(augment(idx)), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    plan = torch.randint(0, len(y), (steps + 3, batch), device=device, generator=gen)
    for row in plan[:3]:
        step(row)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for row in plan[3:]:
        step(row)
    sync()
    return {"train_images_per_s": steps * batch / (time.perf_counter() - t0), "device": device}


# ---- every method through the real loop ---------------------------------------------------


def method_times(npz: str | None, tiny: bool, workdir: str) -> dict:
    """Wall time of every method relative to random: two epochs, equal updates."""
    from lgl_spl import configlib
    from lgl_spl.train import train_and_evaluate

    path = npz
    if path is None:  # --tiny without data: a synthetic npz of CIFAR-10's shape
        x, y = load_cifar(None, True)
        path = os.path.join(workdir, "synthetic_cifar10.npz")
        np.savez(path, x_train=x, y_train=y, x_test=x[:128], y_test=y[:128])
    out = {}
    for method in METHODS:
        c = configlib.cpu_method(configlib.control_student("cifar10"), method)
        with c.unlocked():
            c.model.name = "resnet18"
            c.model.width = 1 / 16 if tiny else 1.0
            c.data.npz_path = path
            c.data.name = "cifar10"
            c.data.train_limit = 300 if tiny else 10_000
            c.data.test_limit = 100 if tiny else 2000
            c.data.augment = "default"
            c.train.batch_size = 32 if tiny else 128
            c.train.num_steps = 0
            c.train.num_epochs = 2.0
            c.train.eval_every = 0
            c.train.eval_every_epochs = 2.0
            c.train.lr_decay_steps = 0  # cosine over the run
            c.train.log_every = 10_000
        if method == "advise":  # its embedding net at the student's width, 64-d
            c.method.embed_width = 1 / 16 if tiny else 0.5
        t0 = time.perf_counter()
        last = train_and_evaluate(c, os.path.join(workdir, method))
        with open(os.path.join(workdir, method, "timing.json")) as f:
            timing = json.load(f)
        out[method] = {
            "wall_s": time.perf_counter() - t0,
            "loop_s": timing["total"],
            "test_accuracy": last["test_accuracy"],
        }
    for method in out:
        out[method]["vs_random"] = out[method]["loop_s"] / out["random"]["loop_s"]
    return out


def markdown(report: dict) -> str:
    lines = [
        "# Accelerator check",
        "",
        f"Command: `{report['command']}`  ",
        f"Devices: {', '.join(d['kind'] for d in report['devices'])}  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v),
        "",
        "| measure | images/s |",
        "|---|---:|",
    ]
    for name, r in report["throughput"].items():
        if r is not None:
            lines.append(f"| {name} | {r['train_images_per_s']:,.0f} |")
    for name in ("jax float32", "jax bfloat16"):
        r = report["throughput"].get(name)
        if r is not None:
            lines.append(f"| scoring pass ({name}) | {r['scoring_images_per_s']:,.0f} |")
    lines += [
        "",
        "| method | loop wall time (s) | × random | test accuracy |",
        "|---|---:|---:|---:|",
    ]
    for method, r in report["methods"].items():
        lines.append(
            f"| {method} | {r['loop_s']:.1f} | {r['vs_random']:.2f} | "
            f"{100 * r['test_accuracy']:.1f} % |"
        )
    peak = report["peak_device_memory_bytes"]
    lines += [
        "",
        f"Peak device memory: {peak / 2**30:.2f} GiB" if peak else "Peak device memory: n/a",
        f"XLA compilations: {report['compilations']}",
        f"Total time: {report['total_s']:.0f} s",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--npz", help="CIFAR-10 arrays (x_train, y_train, …)")
    p.add_argument("--out", required=True, help="directory for gpu_check.json and .md")
    p.add_argument("--tiny", action="store_true", help="seconds on a CPU (the test suite)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=200, help="timed train steps per variant")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    jax.monitoring.register_event_duration_secs_listener(_count_compiles)
    os.makedirs(args.out, exist_ok=True)
    x, y = load_cifar(args.npz, args.tiny)
    batch, steps = (32, 3) if args.tiny else (args.batch, args.steps)
    width = 1 / 16 if args.tiny else 1.0
    throughput = {}
    for dtype in ("float32", "bfloat16"):
        print(f"jax {dtype}: ResNet-18 train step and scoring pass ...", flush=True)
        throughput[f"jax {dtype}"] = jax_throughput(
            x, y, dtype=dtype, batch=batch, steps=steps, width=width
        )
    for bf16 in (False, True):
        name = f"torch eager channels-last {'bf16 autocast' if bf16 else 'float32'}"
        print(f"{name} ...", flush=True)
        throughput[name] = torch_throughput(x, y, bf16=bf16, batch=batch, steps=steps, width=width)
    print("every method through the loop, two epochs ...", flush=True)
    with tempfile.TemporaryDirectory() as workdir, contextlib.redirect_stdout(sys.stderr):
        methods = method_times(args.npz, args.tiny, workdir)
    report = {
        "command": " ".join(["python launch/gpu_check.py", *(argv or sys.argv[1:])]),
        "versions": versions(),
        "devices": devices(),
        "throughput": throughput,
        "methods": methods,
        "peak_device_memory_bytes": peak_device_memory(),
        "compilations": len(_COMPILES),
        "total_s": time.perf_counter() - t_start,
    }
    with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
        json.dump(report, f, indent=1)
    text = markdown(report)
    with open(os.path.join(args.out, "gpu_check.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
