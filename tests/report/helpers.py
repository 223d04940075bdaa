"""Synthetic run workdirs, shaped like what ``lgl_spl.train`` writes."""

from __future__ import annotations

import json
import os

import numpy as np

FASHION = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def write_run(
    workdir,
    *,
    method: str = "random",
    seed: int = 0,
    accs=(0.5, 0.7, 0.8),
    num_steps: int = 300,
    batch_size: int = 32,
    val=None,
    extra=None,
    train_loss=None,
    wall=None,
    timing_total: float | None = 10.0,
    dataset: str = "fashion_mnist",
    model: str = "lenet",
    config: dict | None = None,
    row_extra=None,
    info: dict | None = None,
    last_step: int | None = None,
    rounds: list[dict] | None = None,
) -> str:
    """One workdir: evaluations evenly spaced up to ``last_step`` (default ``num_steps``);
    ``rounds`` (see :func:`make_rounds`) is written to rounds.jsonl when given."""
    os.makedirs(workdir, exist_ok=True)
    n = len(accs)
    end = num_steps if last_step is None else last_step
    steps = np.linspace(end / max(n, 1), end, n).round().astype(int)
    cfg = {
        "seed": seed,
        "method.name": method,
        "data.name": dataset,
        "data.npz_path": f"/data/{seed}.npz",  # differs per run; must not split groups
        "data.toy_layout": "separable",
        "model.name": model,
        "train.num_steps": num_steps,
        "train.batch_size": batch_size,
        "train.eval_every": num_steps // max(n, 1),
    }
    cfg.update(config or {})
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
        for i, step in enumerate(steps):
            row = {
                "step": int(step),
                "round": i,
                "test_accuracy": accs[i],
                "test_loss": 1.0 - accs[i],
                "train_loss": None if train_loss is None else train_loss[i],
                "lr": 0.1,
                "scoring_forward_passes": 0,
                "extra_forward_passes": 0 if extra is None else extra[i],
                "wall_time": float(step) / 10 if wall is None else wall[i],
            }
            if val is not None:
                row["val_accuracy"] = val[i]
                row["val_loss"] = 1.0 - val[i]
            if row_extra is not None:
                row.update(row_extra[i])
            f.write(json.dumps(row) + "\n")
    if rounds is not None:
        with open(os.path.join(workdir, "rounds.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rounds)
    if timing_total is not None:
        with open(os.path.join(workdir, "timing.json"), "w") as f:
            json.dump({"student_training": timing_total * 0.8, "total": timing_total}, f)
    if info is not False:
        run_info = {"dataset": dataset, "label_names": FASHION, "num_classes": 10}
        run_info.update(info or {})
        with open(os.path.join(workdir, "run_info.json"), "w") as f:
            json.dump(run_info, f)
    return str(workdir)


def make_rounds(
    selected=(0.5, 0.6, 0.8, 1.0),
    *,
    steps_per_round: int = 75,
    per_class=None,
    noisy_fraction: float | None = None,
    noisy_selected=None,
    classes=None,
    time: dict | None = None,
) -> list[dict]:
    """rounds.jsonl rows: round i ends at step (i + 1) × ``steps_per_round``.

    ``per_class[i]`` is round i's ``selected_per_class`` (default: 10 equal classes of 100
    examples, scaled by the selected fraction); ``noisy_selected[i]`` its share of flipped
    labels; ``classes[i]`` LGL's classes.
    """
    rows = []
    for i, fraction in enumerate(selected):
        row = {
            "round": i,
            "first_step": i * steps_per_round,
            "step": (i + 1) * steps_per_round,
            "selected_fraction": fraction,
            "lam": 0.5 + i / 10,
            "gamma": None,
            "selected_per_class": (
                [round(100 * fraction)] * 10 if per_class is None else list(per_class[i])
            ),
            "time": dict(time or {"scoring": 0.5, "selection": 0.1, "training": 2.0}),
        }
        if classes is not None:
            row["classes"] = list(classes[i])
        if noisy_fraction is not None:
            row["noisy_fraction"] = noisy_fraction
            row["noisy_selected_fraction"] = (
                noisy_fraction if noisy_selected is None else noisy_selected[i]
            )
        rows.append(row)
    return rows


def write_snapshots(workdir, *, steps=(0, 50, 100, 150, 200), n: int = 40, dim: int = 6):
    """``embeddings/step_N.npz`` of ``n`` examples of 4 classes drifting apart."""
    rng = np.random.default_rng(0)
    labels = np.arange(n, dtype=np.int32) % 4
    centres = rng.normal(size=(4, dim))
    directory = os.path.join(workdir, "embeddings")
    os.makedirs(directory, exist_ok=True)
    for i, step in enumerate(steps):
        x = rng.normal(size=(n, dim)) + (i + 1) * centres[labels]
        np.savez(
            os.path.join(directory, f"step_{step:08d}.npz"),
            embeddings=x.astype(np.float32),
            labels=labels,
            student_step=step,
            embed_steps=2 * step,
        )
