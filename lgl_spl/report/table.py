"""The results table: accuracy over seeds and cost relative to ``random``.

Written as ``table.md`` (a GitHub table), ``table.csv`` and ``summary.json``.
Accuracies are fractions in :class:`Row` and percentages in the files.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from lgl_spl.report.runs import Group, Run, reference_group

STD_NOTE = "± is the sample standard deviation over seeds (ddof=1)"


@dataclass
class Row:
    """One method in one setting, over its seeds."""

    dataset: str
    setting: str
    method: str
    seeds: int
    unfinished: int  # runs included although their last row is before train.num_steps
    num_steps: int
    batch_size: int
    final_test_accuracy: list[float]  # per seed, in seed order
    final_test_accuracy_mean: float
    final_test_accuracy_std: float | None  # None with one seed
    best_val_test_accuracy: list[float]  # test accuracy at the best val_accuracy row
    best_val_test_accuracy_mean: float | None  # None without a validation split
    best_val_test_accuracy_std: float | None
    extra_forward_passes_mean: float
    wall_time_mean: float | None  # seconds; None without timing.json
    wall_time_lower_bound: bool  # some run was resumed (see Run.wall_time)
    timing_mean: dict[str, float]  # timing.json's phases (seconds), mean over runs having each
    updates_vs_random: float | None  # None without a random run in the setting
    extra_forward_vs_random_training: float | None
    wall_time_vs_random: float | None


def final_test_accuracy(run: Run) -> float:
    return float(run.rows[-1]["test_accuracy"]) if run.rows else math.nan


def best_val_test_accuracy(run: Run) -> float | None:
    """Test accuracy at the row with the highest ``val_accuracy`` (first one on ties)."""
    val = run.column("val_accuracy")
    if not np.isfinite(val).any():
        return None
    return float(run.rows[int(np.nanargmax(val))]["test_accuracy"])


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    a = np.asarray(values, np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else None


def _last(run: Run, key: str) -> float:
    return float(run.rows[-1].get(key) or 0) if run.rows else 0.0


def _timing_mean(runs: Sequence[Run]) -> dict[str, float]:
    phases = sorted({k for r in runs for k in r.timing})
    return {k: float(np.mean([float(r.timing[k]) for r in runs if k in r.timing])) for k in phases}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarize(groups: Sequence[Group]) -> list[Row]:
    """One :class:`Row` per group, in the groups' order."""
    rows = []
    for group in groups:
        runs = group.runs
        final = [final_test_accuracy(r) for r in runs]
        best = [b for b in map(best_val_test_accuracy, runs) if b is not None]
        walls = [w for w in (r.wall_time for r in runs) if w is not None]
        extra = float(np.mean([_last(r, "extra_forward_passes") for r in runs]))
        ref = reference_group(group, groups)
        ref_wall = None
        ref_training = None
        if ref is not None:
            ref_walls = [w for w in (r.wall_time for r in ref.runs) if w is not None]
            ref_wall = float(np.mean(ref_walls)) if ref_walls else None
            # Forward passes of random's student training: one per example per update.
            ref_training = float(ref.num_steps * ref.runs[0].batch_size)
        wall = float(np.mean(walls)) if walls else None
        rows.append(
            Row(
                dataset=group.dataset,
                setting=group.setting,
                method=group.label,
                seeds=len(runs),
                unfinished=sum(not r.finished for r in runs),
                num_steps=group.num_steps,
                batch_size=runs[0].batch_size,
                final_test_accuracy=final,
                final_test_accuracy_mean=_mean_std(final)[0],
                final_test_accuracy_std=_mean_std(final)[1],
                best_val_test_accuracy=best,
                best_val_test_accuracy_mean=_mean_std(best)[0],
                best_val_test_accuracy_std=_mean_std(best)[1],
                extra_forward_passes_mean=extra,
                wall_time_mean=wall,
                wall_time_lower_bound=any(r.resumed for r in runs),
                timing_mean=_timing_mean(runs),
                updates_vs_random=_ratio(group.num_steps, ref and ref.num_steps),
                extra_forward_vs_random_training=_ratio(extra, ref_training),
                wall_time_vs_random=_ratio(wall, ref_wall),
            )
        )
    return rows


# ---- formatting -------------------------------------------------------------------------------


def format_accuracy(mean: float | None, std: float | None) -> str:
    """``91.23 ± 0.45`` (percent); the mean alone with one seed; ``n/a`` without values."""
    if mean is None or not math.isfinite(mean):
        return "n/a"
    return f"{100 * mean:.2f}" if std is None else f"{100 * mean:.2f} ± {100 * std:.2f}"


def format_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def _seeds_cell(row: Row) -> str:
    return f"{row.seeds} ({row.unfinished} unfinished)" if row.unfinished else str(row.seeds)


def _wall_cell(row: Row) -> str:
    if row.wall_time_mean is None:
        return "n/a"
    mark = "†" if row.wall_time_lower_bound else ""
    return f"{format_ratio(row.wall_time_vs_random)} ({row.wall_time_mean:.0f} s{mark})"


def markdown_table(rows: Sequence[Row]) -> str:
    """A GitHub table; dataset/setting columns only when they vary."""
    many_datasets = len({r.dataset for r in rows}) > 1
    many_settings = len({(r.dataset, r.setting) for r in rows}) > 1
    header = ["method", "seeds", "final test acc. (%)", "best-val test acc. (%)"]
    header += ["student updates (× random)", "extra fwd passes (× random training)"]
    header += ["wall time (× random)"]
    lead = (["dataset"] if many_datasets else []) + (["setting"] if many_settings else [])
    lines = [
        "| " + " | ".join(lead + header) + " |",
        "|" + "|".join(["---"] * len(lead) + [":---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for r in rows:
        cells = ([r.dataset] if many_datasets else []) + ([r.setting] if many_settings else [])
        cells += [
            r.method,
            _seeds_cell(r),
            format_accuracy(r.final_test_accuracy_mean, r.final_test_accuracy_std),
            format_accuracy(r.best_val_test_accuracy_mean, r.best_val_test_accuracy_std),
            format_ratio(r.updates_vs_random),
            format_ratio(r.extra_forward_vs_random_training),
            _wall_cell(r),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


NOTES = (
    f"- {STD_NOTE}; one seed shows the value alone.",
    "- *best-val*: the test accuracy at the evaluation with the highest validation accuracy "
    "(n/a: no validation split).",
    "- *student updates*: `train.num_steps` relative to `random`'s.",
    "- *extra fwd passes*: forward passes spent outside student training (scoring, "
    "embedding-net training, k-means embedding), at the end of the run, relative to the "
    "forward passes of `random`'s training (its `num_steps × batch_size`).",
    "- *wall time*: `timing.json` total, mean over seeds, relative to `random` (absolute in "
    "parentheses); † some run was resumed: earlier processes count up to their last "
    "evaluation only, so the time is a lower bound.",
)


def _setting_line(rows: Sequence[Row]) -> str:
    datasets = sorted({r.dataset for r in rows})
    settings = sorted({r.setting for r in rows})
    parts = []
    if len(datasets) == 1:
        parts.append(f"dataset `{datasets[0]}`")
    if len({(r.dataset, r.setting) for r in rows}) == 1:
        parts.append(f"setting `{settings[0]}`")
    return ("Runs on " + ", ".join(parts) + ".\n\n") if parts else ""


def write_table(rows: Sequence[Row], out_dir: str, *, title: str | None = None) -> list[str]:
    """Write ``table.md``, ``table.csv`` and ``summary.json`` into ``out_dir``; their paths."""
    md_path = os.path.join(out_dir, "table.md")
    heading = f"# {title}: results\n\n" if title else "# Results\n\n"
    with open(md_path, "w") as f:
        f.write(heading + _setting_line(rows) + markdown_table(rows) + "\n" + "\n".join(NOTES))
        f.write("\n")

    csv_path = os.path.join(out_dir, "table.csv")
    fields = [
        "dataset",
        "setting",
        "method",
        "seeds",
        "unfinished",
        "num_steps",
        "final_test_accuracy_mean_pct",
        "final_test_accuracy_std_pct",
        "best_val_test_accuracy_mean_pct",
        "best_val_test_accuracy_std_pct",
        "updates_vs_random",
        "extra_forward_passes_mean",
        "extra_forward_vs_random_training",
        "wall_time_mean_s",
        "wall_time_vs_random",
        "wall_time_lower_bound",
    ]

    def pct(x):
        return "" if x is None else f"{100 * x:.4f}"

    def num(x):
        return "" if x is None else f"{x:.6g}"

    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        for r in rows:
            writer.writerow(
                [
                    r.dataset,
                    r.setting,
                    r.method,
                    r.seeds,
                    r.unfinished,
                    r.num_steps,
                    pct(r.final_test_accuracy_mean),
                    pct(r.final_test_accuracy_std),
                    pct(r.best_val_test_accuracy_mean),
                    pct(r.best_val_test_accuracy_std),
                    num(r.updates_vs_random),
                    num(r.extra_forward_passes_mean),
                    num(r.extra_forward_vs_random_training),
                    num(r.wall_time_mean),
                    num(r.wall_time_vs_random),
                    int(r.wall_time_lower_bound),
                ]
            )

    json_path = os.path.join(out_dir, "summary.json")
    summary = {
        "title": title,
        "accuracy_unit": "fraction",
        "std": "sample standard deviation over seeds (ddof=1); null with one seed",
        "rows": [asdict(r) for r in rows],
    }
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=1, allow_nan=False)
    return [md_path, csv_path, json_path]
