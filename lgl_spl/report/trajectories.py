"""What happens along a run, per group: the accuracy peak (memorisation of noisy labels),
the per-round selection (``rounds.jsonl``) and the embedding's k-NN accuracy.

Accuracies and shares are fractions here; the files show percentages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lgl_spl.report.plots import group_curve
from lgl_spl.report.runs import Group, Run
from lgl_spl.report.stats import mean_std

ROUND_PHASES = (
    "scoring",
    "selection",
    "clustering",
    "embedding",
    "training",
    "evaluation",
    "checkpointing",
)


def _finite_values(values) -> np.ndarray:
    """``values`` without None, NaN and infinities (not logged, or a diverged loss)."""
    a = np.asarray([v for v in values if v is not None], np.float64)
    return a[np.isfinite(a)]


def _finite_mean(values) -> float | None:
    a = _finite_values(values)
    return float(a.mean()) if a.size else None


# ---- peak -------------------------------------------------------------------------------------


@dataclass
class Peak:
    """The highest point of the group's mean test-accuracy curve and the fall after it."""

    test_accuracy: float  # peak of the mean over seeds, over evaluations
    step: int  # student step of that evaluation
    epoch: float | None  # step / steps_per_round (run_info.json); None when unknown
    drop: float  # peak − the mean final test accuracy (≥ 0 for finished runs)
    per_seed: list[float]  # each seed's own highest test accuracy
    per_seed_step: list[int]  # and the step where it was reached (first on ties)


def peak(group: Group, final_mean: float) -> Peak | None:
    """:class:`Peak` of ``group``; None without test accuracies."""
    curve = group_curve(group, "test_accuracy")
    if curve.steps.size == 0:
        return None
    # A mean over fewer seeds (after an unfinished run's last row) is not comparable.
    full = curve.count == len(group.runs)
    steps, mean = (curve.steps[full], curve.mean[full]) if full.any() else (curve.steps, curve.mean)
    i = int(np.argmax(mean))
    per_round = next((r.steps_per_round for r in group.runs if r.steps_per_round), None)
    per_seed, per_seed_step = [], []
    for run in group.runs:
        acc = run.column("test_accuracy")
        if np.isfinite(acc).any():
            j = int(np.nanargmax(acc))
            per_seed.append(float(acc[j]))
            per_seed_step.append(int(run.steps[j]))
    return Peak(
        test_accuracy=float(mean[i]),
        step=int(steps[i]),
        epoch=float(steps[i]) / per_round if per_round else None,
        drop=float(mean[i]) - final_mean,
        per_seed=per_seed,
        per_seed_step=per_seed_step,
    )


# ---- rounds -----------------------------------------------------------------------------------


@dataclass
class RoundStats:
    """``rounds.jsonl`` of a group: per-run means over rounds, then the mean over runs."""

    runs: int  # runs with rounds.jsonl
    rounds: float  # rounds per run (mean)
    selected_fraction: float | None  # mean over rounds and seeds
    noisy_fraction: float | None  # share of flipped labels in the training data
    noisy_selected_fraction: float | None  # share of flipped labels among the selected
    selection_precision: float | None  # 1 − noisy_selected_fraction: clean share selected
    # Smallest and largest class's share of the selected set relative to uniform (1 = each
    # class selected in equal numbers; over the classes in play for LGL), mean over rounds.
    class_share_min: float | None
    class_share_max: float | None
    time: dict[str, float]  # seconds per phase, summed over rounds, mean over runs
    # Online selection (mean over runs): the mean loss of the examples trained on and of all
    # candidates in the last round that logged them, the point where a mean over rounds
    # would mix the first rounds' high losses with what the selection settles on; and
    # RHO-LOSS's irreducible-loss model's mean loss on the training set.
    selected_loss: float | None = None
    candidate_loss: float | None = None
    il_mean_loss: float | None = None


def _class_shares(row: dict) -> tuple[float, float] | None:
    counts = row.get("selected_per_class")
    if not counts:
        return None
    counts = np.asarray(counts, np.float64)
    classes = row.get("classes")
    if classes:  # LGL selects only the classes of its stage: uniform over those
        counts = counts[[c for c in classes if 0 <= c < counts.size]]
    total = counts.sum()
    if counts.size == 0 or total <= 0:
        return None
    share = counts / total * counts.size
    return float(share.min()), float(share.max())


def _run_round_means(run: Run) -> dict[str, float | None]:
    def mean_of(key):
        return _finite_mean(r.get(key) for r in run.rounds)

    def last_of(key):
        a = _finite_values(r.get(key) for r in run.rounds)
        return float(a[-1]) if a.size else None

    shares = [s for s in map(_class_shares, run.rounds) if s is not None]
    return {
        "selected_loss": last_of("selected_loss"),
        "candidate_loss": last_of("candidate_loss"),
        "il_mean_loss": mean_of("il_mean_loss"),
        "selected_fraction": mean_of("selected_fraction"),
        "noisy_fraction": mean_of("noisy_fraction"),
        "noisy_selected_fraction": mean_of("noisy_selected_fraction"),
        "class_share_min": _finite_mean(s[0] for s in shares),
        "class_share_max": _finite_mean(s[1] for s in shares),
    }


def round_stats(group: Group) -> RoundStats | None:
    """:class:`RoundStats` of ``group``; None when no run wrote rounds.jsonl."""
    runs = [r for r in group.runs if r.rounds]
    if not runs:
        return None
    means = [_run_round_means(r) for r in runs]

    def over_runs(key):
        return _finite_mean(m[key] for m in means)

    noisy_selected = over_runs("noisy_selected_fraction")
    time: dict[str, list[float]] = {}
    for run in runs:
        totals: dict[str, float] = {}
        for row in run.rounds:
            for phase, seconds in (row.get("time") or {}).items():
                if seconds is not None and math.isfinite(float(seconds)):
                    totals[phase] = totals.get(phase, 0.0) + float(seconds)
        for phase, total in totals.items():
            time.setdefault(phase, []).append(total)
    order = {p: i for i, p in enumerate(ROUND_PHASES)}
    return RoundStats(
        runs=len(runs),
        rounds=float(np.mean([len(r.rounds) for r in runs])),
        selected_fraction=over_runs("selected_fraction"),
        noisy_fraction=over_runs("noisy_fraction"),
        noisy_selected_fraction=noisy_selected,
        selection_precision=None if noisy_selected is None else 1.0 - noisy_selected,
        class_share_min=over_runs("class_share_min"),
        class_share_max=over_runs("class_share_max"),
        time={
            p: float(np.mean(time[p]))
            for p in sorted(time, key=lambda p: (order.get(p, len(order)), p))
        },
        selected_loss=over_runs("selected_loss"),
        candidate_loss=over_runs("candidate_loss"),
        il_mean_loss=over_runs("il_mean_loss"),
    )


# ---- embedding k-NN ---------------------------------------------------------------------------


@dataclass
class KnnStats:
    """k-NN accuracy of the embedding on held-out examples, first and last logged value,
    beside k-NN on the raw pixels of the same examples (mean ± std over seeds)."""

    seeds: int  # runs that logged embed_knn_accuracy
    first_mean: float
    first_std: float | None
    first_step: float  # mean over seeds
    last_mean: float
    last_std: float | None
    last_step: float
    pixel_mean: float | None
    pixel_std: float | None


def knn_stats(group: Group) -> KnnStats | None:
    """:class:`KnnStats` of ``group``; None when no run logged ``embed_knn_accuracy``."""
    first, last, first_step, last_step, pixel = [], [], [], [], []
    for run in group.runs:
        embed = run.column("embed_knn_accuracy")
        logged = np.flatnonzero(np.isfinite(embed))
        if not logged.size:
            continue
        steps = run.steps
        first.append(float(embed[logged[0]]))
        last.append(float(embed[logged[-1]]))
        first_step.append(float(steps[logged[0]]))
        last_step.append(float(steps[logged[-1]]))
        pixels = run.column("pixel_knn_accuracy")
        pixels = pixels[np.isfinite(pixels)]
        if pixels.size:
            pixel.append(float(pixels[-1]))  # the same examples every time: any row will do
    if not first:
        return None
    return KnnStats(
        len(first),
        *mean_std(first, skip_missing=True),
        float(np.mean(first_step)),
        *mean_std(last, skip_missing=True),
        float(np.mean(last_step)),
        *mean_std(pixel, skip_missing=True),
    )
