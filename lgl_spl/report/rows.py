"""The report's record: one :class:`Row` per method and block, built from runs
(:func:`summarize`) or from a committed summary.json (:meth:`Row.from_record`), and the one
comparison pass with ``random`` both share (:func:`compare`).

Accuracies are fractions here; the files show percentages (differences: percentage points).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from lgl_spl.report.accounting import Accounting, accounting
from lgl_spl.report.runs import Group, Run, reference_group
from lgl_spl.report.stats import Comparison, adjust, mean_std, welch
from lgl_spl.report.trajectories import KnnStats, Peak, RoundStats, knn_stats, peak, round_stats


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
    condition: dict  # the parts of the condition that vary in this dataset and setting
    label_noise: float
    label_noise_type: str | None
    budget_steps: int  # the baseline updates this group is matched with (Run.budget)
    max_fraction: float | None  # the selection cap; None when uncapped
    reference: str | None  # the random group compared with (itself for random); None: none
    final_vs_random: Comparison | None  # None for the reference itself or without one
    best_val_vs_random: Comparison | None
    peak: Peak | None
    rounds: RoundStats | None  # None without rounds.jsonl
    embedding_knn: KnnStats | None  # None without embed_knn_accuracy
    # Steps and wall time to reach random's final and peak accuracy, equal compute; None in
    # summaries written before it existed.
    accounting: Accounting | None = None

    @property
    def context(self) -> tuple:
        """Rows of one context are compared: dataset, setting, label noise, budget."""
        return (
            self.dataset,
            self.setting,
            self.label_noise,
            self.label_noise_type,
            self.budget_steps,
        )

    @property
    def is_reference(self) -> bool:
        return self.reference == self.method

    def to_record(self) -> dict:
        """The row as summary.json keeps it (plain JSON values)."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> Row:
        """A row back from its summary.json record.

        A field a summary was written without gets its neutral value (no label noise,
        uncapped, the budget is the run length, no peak, rounds or accounting); a summary
        without ``reference`` meant plain ``random``. The comparisons are left to
        :func:`compare`, which recomputes them from the per-seed values.
        """
        values = {f.name: record.get(f.name) for f in fields(cls)}
        values |= {name: record[name] for name in _REQUIRED}  # KeyError: not a summary row
        for name, part in (("peak", Peak), ("rounds", RoundStats), ("embedding_knn", KnnStats)):
            values[name] = _build(part, values[name])
        return cls(
            **values
            | {
                "seeds": int(values["seeds"]),
                "unfinished": int(values["unfinished"] or 0),
                "num_steps": int(values["num_steps"]),
                "batch_size": int(values["batch_size"]),
                "final_test_accuracy": [float(x) for x in values["final_test_accuracy"]],
                "best_val_test_accuracy": [
                    float(x) for x in values["best_val_test_accuracy"] or []
                ],
                "wall_time_lower_bound": bool(values["wall_time_lower_bound"]),
                "timing_mean": dict(values["timing_mean"] or {}),
                "condition": dict(values["condition"] or {}),
                "label_noise": float(values["label_noise"] or 0.0),
                "budget_steps": int(values["budget_steps"] or values["num_steps"]),
                "reference": record.get("reference", "random"),
                "final_vs_random": None,
                "best_val_vs_random": None,
                "accounting": Accounting.from_dict(values["accounting"]),
            }
        )


# The fields every summary has had; the others have a neutral value when absent.
_REQUIRED = (
    "dataset",
    "setting",
    "method",
    "seeds",
    "num_steps",
    "batch_size",
    "final_test_accuracy",
    "final_test_accuracy_mean",
    "final_test_accuracy_std",
    "extra_forward_passes_mean",
)


def _build(cls, value):
    if value is None:
        return None
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in value.items() if k in names})


def final_test_accuracy(run: Run) -> float:
    """``test_accuracy`` of the last row that has one."""
    acc = run.column("test_accuracy")
    finite = np.flatnonzero(np.isfinite(acc))
    return float(acc[finite[-1]]) if finite.size else math.nan


def best_val_test_accuracy(run: Run) -> float | None:
    """Test accuracy at the row with the highest ``val_accuracy`` (first one on ties)."""
    val = run.column("val_accuracy")
    if not np.isfinite(val).any():
        return None
    return float(run.rows[int(np.nanargmax(val))]["test_accuracy"])


def _last(run: Run, key: str) -> float:
    return float(run.rows[-1].get(key) or 0) if run.rows else 0.0


def _timing_mean(runs: Sequence[Run]) -> dict[str, float]:
    phases = sorted({k for r in runs for k in r.timing})
    return {k: float(np.mean([float(r.timing[k]) for r in runs if k in r.timing])) for k in phases}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarize(groups: Sequence[Group]) -> list[Row]:
    """One :class:`Row` per group, in the groups' order, compared with ``random``."""
    rows = [_row(group, groups) for group in groups]
    compare(rows)
    return rows


def _row(group: Group, groups: Sequence[Group]) -> Row:
    runs = group.runs
    final = [final_test_accuracy(r) for r in runs]
    best = [b for b in map(best_val_test_accuracy, runs) if b is not None]
    wall = _mean([w for w in (r.wall_time for r in runs) if w is not None])
    extra = float(np.mean([_last(r, "extra_forward_passes") for r in runs]))
    final_mean, final_std = mean_std(final)
    ref = reference_group(group, groups)
    ref_wall = ref_training = ref_final_mean = ref_peak = None
    if ref is not None:
        ref_final_mean = mean_std([final_test_accuracy(r) for r in ref.runs])[0]
        ref_peak_at = peak(ref, ref_final_mean)
        ref_peak = ref_peak_at.test_accuracy if ref_peak_at is not None else None
        ref_wall = _mean([w for w in (r.wall_time for r in ref.runs) if w is not None])
        # Forward passes of random's student training: one per example per update.
        ref_training = float(ref.num_steps * ref.runs[0].batch_size)
    return Row(
        dataset=group.dataset,
        setting=group.setting,
        method=group.label,
        seeds=len(runs),
        unfinished=sum(not r.finished for r in runs),
        num_steps=group.num_steps,
        batch_size=runs[0].batch_size,
        final_test_accuracy=final,
        final_test_accuracy_mean=final_mean,
        final_test_accuracy_std=final_std,
        best_val_test_accuracy=best,
        best_val_test_accuracy_mean=mean_std(best)[0],
        best_val_test_accuracy_std=mean_std(best)[1],
        extra_forward_passes_mean=extra,
        wall_time_mean=wall,
        wall_time_lower_bound=any(r.resumed for r in runs),
        timing_mean=_timing_mean(runs),
        updates_vs_random=_ratio(group.updates, ref and ref.updates),
        extra_forward_vs_random_training=_ratio(extra, ref_training),
        wall_time_vs_random=_ratio(wall, ref_wall),
        condition=dict(group.condition),
        label_noise=runs[0].label_noise,
        label_noise_type=runs[0].label_noise_type,
        budget_steps=runs[0].budget,
        max_fraction=runs[0].max_fraction,
        reference=ref.label if ref is not None else None,
        final_vs_random=None,  # compare() sets both
        best_val_vs_random=None,
        peak=peak(group, final_mean),
        rounds=round_stats(group),
        embedding_knn=knn_stats(group),
        accounting=accounting(group, ref, ref_final=ref_final_mean, ref_peak=ref_peak),
    )


def compare(rows: Sequence[Row]) -> None:
    """Compare every row with its reference (the row of its context labelled
    ``row.reference``; a reference not among the rows becomes None) by Welch's test on the
    per-seed values, then adjust over the report (:func:`adjust_families`). In place; the
    one pass for rows from runs and rows from a summary."""
    by_label = {(r.context, r.method): r for r in rows}
    for row in rows:
        ref = by_label.get((row.context, row.reference)) if row.reference else None
        row.reference = ref.method if ref is not None else None
        versus = ref is not None and ref is not row
        row.final_vs_random = (
            welch(row.final_test_accuracy, ref.final_test_accuracy) if versus else None
        )
        row.best_val_vs_random = (
            welch(row.best_val_test_accuracy, ref.best_val_test_accuracy)
            if versus and row.best_val_test_accuracy
            else None
        )
    adjust_families(rows)


def adjust_families(rows: Sequence[Row]) -> None:
    """Holm and Benjamini–Hochberg over the report: the final-accuracy comparisons with
    ``random`` are one family, the best-validation ones a second."""
    adjust([r.final_vs_random for r in rows])
    adjust([r.best_val_vs_random for r in rows])
