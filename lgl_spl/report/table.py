"""The results table: accuracy over seeds, its difference from ``random`` (Welch's test),
and cost relative to ``random``; and the smaller tables of what happens along a run.

Written as ``table.md`` (a GitHub table), ``table.csv`` and ``summary.json``; beside them
``peak.md`` (peak test accuracy and the drop after it), ``selection.md`` (from
``rounds.jsonl``) and ``embedding.md`` (the embedding's k-NN accuracy) where runs have
the data. Accuracies are fractions in :class:`Row` and percentages (differences:
percentage points) in the files.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from lgl_spl.report.accounting import (
    BACKWARD_FORWARDS,
    BEFORE,
    BEYOND,
    CONVENTION,
    TRAIN_STEP_FORWARDS,
    Accounting,
    Reach,
    accounting,
)
from lgl_spl.report.runs import Group, Run, condition_label, reference_group
from lgl_spl.report.stats import ALPHA, Comparison, adjust, welch
from lgl_spl.report.trajectories import KnnStats, Peak, RoundStats, knn_stats, peak, round_stats

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
        ref_final_mean = ref_peak = None
        if ref is not None:
            ref_final_mean = _mean_std([final_test_accuracy(r) for r in ref.runs])[0]
            ref_peak_at = peak(ref, ref_final_mean)
            ref_peak = ref_peak_at.test_accuracy if ref_peak_at is not None else None
            ref_walls = [w for w in (r.wall_time for r in ref.runs) if w is not None]
            ref_wall = float(np.mean(ref_walls)) if ref_walls else None
            # Forward passes of random's student training: one per example per update.
            ref_training = float(ref.num_steps * ref.runs[0].batch_size)
        wall = float(np.mean(walls)) if walls else None
        final_mean, final_std = _mean_std(final)
        # Welch's test against random, for every group but random itself.
        versus = ref is not None and ref is not group
        ref_final = [final_test_accuracy(r) for r in ref.runs] if versus else []
        ref_best = (
            [b for b in map(best_val_test_accuracy, ref.runs) if b is not None] if versus else []
        )
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
                final_test_accuracy_mean=final_mean,
                final_test_accuracy_std=final_std,
                best_val_test_accuracy=best,
                best_val_test_accuracy_mean=_mean_std(best)[0],
                best_val_test_accuracy_std=_mean_std(best)[1],
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
                final_vs_random=welch(final, ref_final) if versus else None,
                best_val_vs_random=welch(best, ref_best) if versus and best else None,
                peak=peak(group, final_mean),
                rounds=round_stats(group),
                embedding_knn=knn_stats(group),
                accounting=accounting(group, ref, ref_final=ref_final_mean, ref_peak=ref_peak),
            )
        )
    adjust_families(rows)
    return rows


def adjust_families(rows: Sequence[Row]) -> None:
    """Holm and Benjamini–Hochberg over the report: the final-accuracy comparisons with
    ``random`` are one family, the best-validation ones a second."""
    adjust([r.final_vs_random for r in rows])
    adjust([r.best_val_vs_random for r in rows])


# ---- formatting -------------------------------------------------------------------------------


def format_accuracy(mean: float | None, std: float | None) -> str:
    """``91.23 ± 0.45`` (percent); the mean alone with one seed; ``n/a`` without values."""
    if mean is None or not math.isfinite(mean):
        return "n/a"
    return f"{100 * mean:.2f}" if std is None else f"{100 * mean:.2f} ± {100 * std:.2f}"


def format_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def format_points(value: float | None) -> str:
    """A difference of fractions in percentage points, signed: ``+1.23``."""
    return "n/a" if value is None else f"{100 * value:+.2f}"


def format_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _seeds_cell(row: Row) -> str:
    return f"{row.seeds} ({row.unfinished} unfinished)" if row.unfinished else str(row.seeds)


def _wall_cell(row: Row) -> str:
    if row.wall_time_mean is None:
        return "n/a"
    mark = "†" if row.wall_time_lower_bound else ""
    return f"{format_ratio(row.wall_time_vs_random)} ({row.wall_time_mean:.0f} s{mark})"


def _is_reference(row: Row) -> bool:
    return row.reference == row.method


def _marked(text: str, c: Comparison | None) -> str:
    return f"{text} {c.mark}" if c is not None and c.mark else text


VERSUS_HEADER = ["Δ vs random (pts)", "95 % CI (pts)", "p", "Holm p", "BH q", "rank p"]


def _versus_cells(row: Row) -> list[str]:
    """Δ vs random, its 95 % interval, Welch's p, Holm's p, BH's q and the rank test's p
    (final test accuracy)."""
    if _is_reference(row):
        return ["ref."] + ["—"] * (len(VERSUS_HEADER) - 1)
    c = row.final_vs_random
    if c is None:
        return ["n/a"] * len(VERSUS_HEADER)
    delta = format_points(c.delta) + (" ≈" if c.within_two_std else "")
    ci = "n/a" if c.ci95 is None else f"[{format_points(c.ci95[0])}, {format_points(c.ci95[1])}]"
    rank = format_p(c.p_rank) + (" ≠" if c.rank_disagrees else "")
    return [delta, ci, format_p(c.p), format_p(c.p_holm), format_p(c.q_bh), rank]


def _lead(rows: Sequence[Row]) -> tuple[list[str], list]:
    """Leading dataset / setting / condition columns, only those that vary."""
    many_datasets = len({r.dataset for r in rows}) > 1
    many_settings = len({(r.dataset, r.setting) for r in rows}) > 1
    conditions = any(r.condition for r in rows)
    header = (
        (["dataset"] if many_datasets else [])
        + (["setting"] if many_settings else [])
        + (["condition"] if conditions else [])
    )

    def cells(r: Row) -> list[str]:
        return (
            ([r.dataset] if many_datasets else [])
            + ([r.setting] if many_settings else [])
            + ([condition_label(r.condition) or "—"] if conditions else [])
        )

    return header, cells


def _github_table(rows: Sequence[Row], header: list[str], body) -> str:
    """``header`` after the leading columns; ``body(row)`` gives a row's cells."""
    lead, lead_cells = _lead(rows)
    lines = [
        "| " + " | ".join(lead + header) + " |",
        "|" + "|".join(["---"] * len(lead) + [":---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for r in rows:
        cells = lead_cells(r) + body(r)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_table(rows: Sequence[Row]) -> str:
    """A GitHub table; dataset/setting/condition columns only when they vary."""
    header = ["method", "seeds", "final test acc. (%)", *VERSUS_HEADER]
    header += ["best-val test acc. (%)"]
    header += ["student updates (× random)", "extra fwd passes (× random training)"]
    header += ["wall time (× random)"]

    def body(r: Row) -> list[str]:
        final = format_accuracy(r.final_test_accuracy_mean, r.final_test_accuracy_std)
        best = format_accuracy(r.best_val_test_accuracy_mean, r.best_val_test_accuracy_std)
        return [
            r.method,
            _seeds_cell(r),
            _marked(final, r.final_vs_random),
            *_versus_cells(r),
            _marked(best, r.best_val_vs_random),
            format_ratio(r.updates_vs_random),
            format_ratio(r.extra_forward_vs_random_training),
            _wall_cell(r),
        ]

    return _github_table(rows, header, body)


NOTES = (
    f"- {STD_NOTE}; one seed shows the value alone.",
    "- *Δ vs random*: mean final test accuracy minus that of `random` in the same setting "
    "and condition (label noise, budget), in percentage points; *95 % CI*: the interval of "
    "that difference (Welch–Satterthwaite degrees of freedom); *p*: Welch's two-sided "
    "t-test on the per-seed final test accuracies. n/a: no `random` to compare with, "
    "fewer than 2 seeds on a side, or no spread over seeds on either side; ref.: the "
    "reference itself.",
    "- *Holm p*: Welch's p adjusted by Holm's method over every final-accuracy comparison "
    "with `random` in this report (the family; the best-val comparisons are a second "
    f"family); at most {ALPHA} × the family's size of the raw p < {ALPHA} are expected by "
    "chance alone. *BH q*: the Benjamini–Hochberg false-discovery-rate q over the same "
    "family.",
    "- *rank p*: exact two-sided Mann–Whitney U test on the same per-seed values (every "
    "split of the seeds enumerated; robust to a collapsed seed); with 3 seeds a side it "
    "cannot go below 0.1. ≠: it and Welch's p fall on different sides of "
    f"{ALPHA}.",
    f"- ▲ / ▼: better / worse than `random` at Holm p < {ALPHA} (beside *best-val*: the "
    "same test, Holm-adjusted within the best-val family).",
    "- ≈: |Δ| is less than twice the larger of the two standard deviations over seeds: "
    "single runs of the method and of `random` overlap, so unless p is small the seeds "
    "do not tell them apart and more seeds are needed.",
    "- *condition*: what differs between blocks of the same setting, each compared with its "
    "own `random`: label noise, and *steps*, the baseline's student updates (LGL: the "
    "baseline length its schedule is matched with). A capped pace "
    '("(max_fraction=…)") is a variant of its method, not a condition: it is compared '
    "with the uncapped `random` of the same noise level and budget.",
    "- *best-val*: the test accuracy at the evaluation with the highest validation accuracy "
    "(n/a: no validation split).",
    "- *student updates*: the updates a run takes (`train.num_steps`; a run of short rounds, "
    "such as dynamic pruning, ends earlier) relative to `random`'s.",
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
    noise = {(r.label_noise, r.label_noise_type) for r in rows}
    if len(noise) == 1:
        level, kind = next(iter(noise))
        if level > 0:
            parts.append(f"label noise {level:g}" + (f" ({kind})" if kind else ""))
    return ("Runs on " + ", ".join(parts) + ".\n\n") if parts else ""


def _heading(title: str | None, what: str) -> str:
    return f"# {title}: {what}\n\n" if title else f"# {what[:1].upper()}{what[1:]}\n\n"


def seed_line(rows: Sequence[Row], seed_rule: str | None) -> str:
    """The seed rule declared before the runs, and the seed counts the table has."""
    counts = sorted({r.seeds for r in rows})
    have = "every row has " + " or ".join(map(str, counts)) + " seeds"
    if seed_rule:
        return f"Seed rule: {seed_rule}. In this table {have}.\n\n"
    return f"Seeds: {have}; no seed rule was recorded with this report.\n\n"


def write_table(
    rows: Sequence[Row],
    out_dir: str,
    *,
    title: str | None = None,
    seed_rule: str | None = None,
    note: str | None = None,
) -> list[str]:
    """Write ``table.md``, ``table.csv`` and ``summary.json`` into ``out_dir``; their paths.

    ``seed_rule`` (how many seeds each block runs, as declared by the launch script) is
    stated in table.md and kept in summary.json; ``note`` is a paragraph for the top of
    table.md (say, that the report was re-rendered from an older summary)."""
    md_path = os.path.join(out_dir, "table.md")
    with open(md_path, "w") as f:
        f.write(_heading(title, "results") + _setting_line(rows) + seed_line(rows, seed_rule))
        f.write((f"{note}\n\n" if note else "") + markdown_table(rows))
        f.write("\n" + "\n".join(NOTES) + "\n")

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
        # Added later: at the end, so readers by position keep working.
        "label_noise",
        "label_noise_type",
        "budget_steps",
        "max_fraction",
        "reference",
        "delta_vs_random_pts",
        "delta_ci95_low_pts",
        "delta_ci95_high_pts",
        "p_vs_random",
        "within_two_std",
        "best_val_delta_vs_random_pts",
        "best_val_delta_ci95_low_pts",
        "best_val_delta_ci95_high_pts",
        "best_val_p_vs_random",
        "peak_test_accuracy_pct",
        "peak_step",
        "peak_epoch",
        "peak_drop_pts",
        "selected_fraction_mean",
        "noisy_fraction",
        "noisy_selected_fraction_mean",
        "selection_precision",
        "class_share_min",
        "class_share_max",
        "selected_loss_last_round",
        "candidate_loss_last_round",
        "il_mean_loss",
        "embed_knn_first_pct",
        "embed_knn_last_pct",
        "pixel_knn_pct",
        "p_holm_vs_random",
        "q_bh_vs_random",
        "p_rank_vs_random",
        "best_val_p_holm_vs_random",
        "best_val_q_bh_vs_random",
        "best_val_p_rank_vs_random",
        "random_final_target_pct",
        "to_random_final_steps_median",
        "to_random_final_steps_mean",
        "to_random_final_never",
        "to_random_final_wall_time_median_s",
        "to_random_final_wall_time_mean_s",
        "random_peak_target_pct",
        "to_random_peak_steps_median",
        "to_random_peak_steps_mean",
        "to_random_peak_never",
        "to_random_peak_wall_time_median_s",
        "to_random_peak_wall_time_mean_s",
        "compute_forward_equivalents_mean",
        "compute_vs_random",
        "random_at_equal_compute_pct",
        "equal_compute_status",
        "at_random_compute_pct",
    ]

    def pct(x):
        return "" if x is None else f"{100 * x:.4f}"

    def num(x):
        return "" if x is None else f"{x:.6g}"

    def versus(c: Comparison | None) -> list[str]:
        if c is None:
            return [""] * 4
        low, high = c.ci95 if c.ci95 is not None else (None, None)
        return [pct(c.delta), pct(low), pct(high), num(c.p)]

    def adjusted(c: Comparison | None) -> list[str]:
        return [""] * 3 if c is None else [num(c.p_holm), num(c.q_bh), num(c.p_rank)]

    def reached(x: Reach | None) -> list:
        if x is None:
            return [""] * 6
        return [
            pct(x.target),
            num(x.steps_median),
            num(x.steps_mean),
            x.never,
            num(x.wall_time_median),
            num(x.wall_time_mean),
        ]

    def accounted(a: Accounting | None) -> list:
        if a is None:
            return [""] * 17
        return [
            *reached(a.to_final),
            *reached(a.to_peak),
            num(a.compute),
            num(a.compute_vs_random),
            pct(a.random_at_equal_compute),
            a.equal_compute_status or "",
            pct(a.at_random_compute_mean),
        ]

    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        for r in rows:
            c = r.final_vs_random
            pk, rs, kn = r.peak, r.rounds, r.embedding_knn
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
                    num(r.label_noise),
                    r.label_noise_type or "",
                    r.budget_steps,
                    num(r.max_fraction),
                    r.reference or "",
                    *versus(c),
                    "" if c is None or c.within_two_std is None else int(c.within_two_std),
                    *versus(r.best_val_vs_random),
                    pct(pk and pk.test_accuracy),
                    "" if pk is None else pk.step,
                    num(pk and pk.epoch),
                    pct(pk and pk.drop),
                    num(rs and rs.selected_fraction),
                    num(rs and rs.noisy_fraction),
                    num(rs and rs.noisy_selected_fraction),
                    num(rs and rs.selection_precision),
                    num(rs and rs.class_share_min),
                    num(rs and rs.class_share_max),
                    num(rs and rs.selected_loss),
                    num(rs and rs.candidate_loss),
                    num(rs and rs.il_mean_loss),
                    pct(kn and kn.first_mean),
                    pct(kn and kn.last_mean),
                    pct(kn and kn.pixel_mean),
                    *adjusted(c),
                    *adjusted(r.best_val_vs_random),
                    *accounted(r.accounting),
                ]
            )

    json_path = os.path.join(out_dir, "summary.json")
    summary = {
        "title": title,
        "seed_rule": seed_rule,
        "note": note,
        "accuracy_unit": "fraction",
        "std": "sample standard deviation over seeds (ddof=1); null with one seed",
        "versus_random": (
            "final_vs_random / best_val_vs_random: delta = mean − random's mean; ci95 = "
            "95 % interval of delta (Welch–Satterthwaite df); p = Welch's two-sided t-test; "
            "p_holm = Holm-adjusted p and q_bh = Benjamini–Hochberg q over the report's "
            "final_vs_random comparisons (one family) or best_val_vs_random ones (another); "
            "p_rank = exact two-sided Mann–Whitney U p; within_two_std = |delta| < 2 × the "
            "larger std; null (or why_na) where undefined"
        ),
        "accounting": (
            "to_final / to_peak: per seed the step and wall time (s) of the first evaluation "
            "whose test accuracy reaches random's mean final / the peak of random's mean "
            "test curve (null: never); median with misses as never (null: half or more "
            "never reach), mean over the seeds that reach it. "
            + CONVENTION
            + "; random_at_equal_compute: random's mean test accuracy at the row's mean "
            "total compute, linear along random's curve (null unless equal_compute_status "
            "is 'ok'); at_random_compute: the row's test accuracy at random's total "
            "compute, per seed"
        ),
        "rows": [asdict(r) for r in rows],
    }
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=1, allow_nan=False)
    return [md_path, csv_path, json_path]


# ---- along the run ----------------------------------------------------------------------------

PEAK_NOTES = (
    "- *peak*: the highest mean test accuracy over seeds at any evaluation, and the student "
    "step (epoch: step / steps per round) of that evaluation.",
    "- *drop*: peak minus the mean final test accuracy, in percentage points. A large drop "
    "is the student memorising what it should not (with label noise: the flipped labels).",
)


def peak_markdown(rows: Sequence[Row]) -> str:
    rows = [r for r in rows if r.peak is not None]
    header = ["method", "seeds", "peak test acc. (%)", "at step", "at epoch"]
    header += ["final test acc. (%)", "drop (pts)"]

    def body(r: Row) -> list[str]:
        p = r.peak
        return [
            r.method,
            _seeds_cell(r),
            f"{100 * p.test_accuracy:.2f}",
            str(p.step),
            "n/a" if p.epoch is None else f"{p.epoch:.1f}",
            format_accuracy(r.final_test_accuracy_mean, r.final_test_accuracy_std),
            f"{100 * p.drop:.2f}",
        ]

    return _github_table(rows, header, body)


ACCOUNTING_NOTES = (
    "- *random's final / peak*: the targets, `random`'s mean final test accuracy in the same "
    "block and the peak of its mean test curve (the peak's row in `peak.md`).",
    "- *steps / wall time to …*: per seed, the student step and the wall time (from the "
    "run's start; summed over resumes, a lower bound then) of the first evaluation whose "
    "test accuracy reaches the target, so at the resolution of `train.eval_every`. The cell"
    " is the median over seeds with a seed that never reaches it counted as never (*never* "
    "once half the seeds miss), then the mean over the seeds that reach it and how many "
    "never do: a miss is never averaged away. `random` is measured against its own mean as "
    "well.",
    "- *compute*: forward-pass equivalents per run, mean over seeds: each student update "
    f"costs {TRAIN_STEP_FORWARDS} × `batch_size` (one forward, a backward counted as "
    f"{BACKWARD_FORWARDS} forwards; the project "
    "defines no other ratio, and on the CPU LeNet a training step measures about 2.4 "
    "forwards, `docs/benchmarks.md`), each pass in `extra_forward_passes` (scoring, "
    "candidates, auxiliary learners' forwards) one, each backward pass an auxiliary learner "
    "logs (`<learner>_backward_passes`: the irreducible-loss model's `il_backward_passes`) "
    f"{BACKWARD_FORWARDS}; relative to `random`'s. A learner that logs no backward passes "
    "(SPL-ADVisE's embedding net) counts its forwards only: a lower bound.",
    "- *random at equal compute*: `random`'s mean test accuracy at the method's total "
    "compute, linear between its evaluations against its cumulative compute, and the "
    "method's final minus it (Δ, points); *beyond random's run*: the method used more "
    "compute than `random`'s whole run. *at random's compute*: the other way round, the "
    "method's test accuracy at `random`'s total compute along its own curve (mean over "
    "seeds; n/a where a seed's run used less compute, its final then stands).",
    "- —: not recorded (a report rendered from a summary written before this table existed) "
    "or no `random` in the block.",
)


def _reach_cell(x: Reach | None, *, wall: bool = False) -> str:
    """``300 (mean 320; 1 of 3 never)``; ``never (…)`` once half the seeds miss."""
    if x is None:
        return "—"

    def fmt(v: float) -> str:
        return f"{v:.1f} s" if wall else f"{v:.0f}"

    median = x.wall_time_median if wall else x.steps_median
    mean = x.wall_time_mean if wall else x.steps_mean
    parts = []
    if mean is not None and x.seeds > 1:
        parts.append(f"mean {fmt(mean)}")
    if x.never:
        parts.append(f"{x.never} of {x.seeds} never")
    head = "never" if median is None else fmt(median)
    if wall and x.reached and all(w is None for w in x.wall_time):
        head = "n/a"  # runs without a logged wall_time
    return head + (f" ({'; '.join(parts)})" if parts else "")


def _equal_compute_cell(r: Row) -> str:
    a = r.accounting
    if a is None or a.equal_compute_status is None:
        return "—"
    if a.equal_compute_status == BEYOND:
        return "beyond random's run"
    if a.equal_compute_status == BEFORE:
        return "before random's first evaluation"
    delta = r.final_test_accuracy_mean - a.random_at_equal_compute
    return f"{100 * a.random_at_equal_compute:.2f} (Δ {format_points(delta)})"


def accounting_markdown(rows: Sequence[Row]) -> str:
    header = ["method", "seeds", "final test acc. (%)", "random's final / peak (%)"]
    header += ["steps to random's final", "wall time to random's final"]
    header += ["steps to random's peak", "wall time to random's peak"]
    header += ["compute (× random)", "random at equal compute (%)", "at random's compute (%)"]

    def body(r: Row) -> list[str]:
        a = r.accounting
        final = format_accuracy(r.final_test_accuracy_mean, r.final_test_accuracy_std)
        if a is None or a.to_final is None:
            return [r.method, _seeds_cell(r), final] + ["—"] * (len(header) - 3)
        targets = f"{100 * a.to_final.target:.2f}"
        targets += f" / {100 * a.to_peak.target:.2f}" if a.to_peak is not None else ""
        mine = a.at_random_compute_mean
        return [
            r.method,
            _seeds_cell(r),
            final,
            targets,
            _reach_cell(a.to_final),
            _reach_cell(a.to_final, wall=True),
            _reach_cell(a.to_peak),
            _reach_cell(a.to_peak, wall=True),
            format_ratio(a.compute_vs_random),
            _equal_compute_cell(r),
            "n/a" if mine is None else f"{100 * mine:.2f}",
        ]

    return _github_table(rows, header, body)


SELECTION_NOTES = (
    "- From `rounds.jsonl`: per run the mean over rounds, then the mean over seeds.",
    "- *selected*: fraction of the training data each round trains on.",
    "- *noisy in data / selected*: share of flipped labels in the training data and among "
    "the examples selected; *precision*: 1 − the latter (clean share of the selection).",
    "- *class share min / max*: the least and most selected class's share of the selected "
    "set relative to uniform (1.00 = every class equally; LGL: over its stage's classes).",
    "- *selected / candidate loss*: online selection's mean training loss of the examples "
    "trained on and of all the step's candidates, in the last round that logged them (the "
    "warm-up logs none); *irreducible loss*: the irreducible-loss model's mean loss on the "
    "training set (RHO-LOSS; ln 10 ≈ 2.30 is a uniform guess over 10 classes). n/a: not "
    "logged by the method, or a report from runs before these were kept.",
)


def selection_markdown(rows: Sequence[Row]) -> str:
    rows = [r for r in rows if r.rounds is not None]
    noisy = any(r.rounds.noisy_selected_fraction is not None for r in rows)
    header = ["method", "runs", "rounds", "selected"]
    header += ["noisy in data", "noisy selected", "precision"] if noisy else []
    header += ["class share min", "class share max"]
    losses = any(r.rounds.selected_loss is not None for r in rows)
    header += ["selected loss", "candidate loss"] if losses else []
    il = any(r.rounds.il_mean_loss is not None for r in rows)
    header += ["irreducible loss"] if il else []

    def fraction(x):
        return "n/a" if x is None else f"{x:.3f}"

    def loss(x):  # a collapsed student's candidates reach losses in the thousands
        return "n/a" if x is None else f"{x:.3f}" if abs(x) < 100 else f"{x:.0f}"

    def body(r: Row) -> list[str]:
        s = r.rounds
        cells = [r.method, str(s.runs), f"{s.rounds:.0f}", fraction(s.selected_fraction)]
        if noisy:
            cells += [
                fraction(s.noisy_fraction),
                fraction(s.noisy_selected_fraction),
                fraction(s.selection_precision),
            ]
        cells += [fraction(s.class_share_min), fraction(s.class_share_max)]
        cells += [loss(s.selected_loss), loss(s.candidate_loss)] if losses else []
        return cells + ([loss(s.il_mean_loss)] if il else [])

    return _github_table(rows, header, body)


EMBEDDING_NOTES = (
    "- k-NN accuracy of the embedding net on held-out examples, at the first and last "
    "evaluation that logged it (mean ± std over seeds; the step is the mean over seeds).",
    "- *pixels*: k-NN on the raw pixels of the same examples: what the embedding must beat.",
)


def embedding_markdown(rows: Sequence[Row]) -> str:
    rows = [r for r in rows if r.embedding_knn is not None]
    header = ["method", "seeds", "first k-NN acc. (%)", "at step", "last k-NN acc. (%)"]
    header += ["at step", "pixels k-NN acc. (%)"]

    def body(r: Row) -> list[str]:
        k = r.embedding_knn
        return [
            r.method,
            str(k.seeds),
            format_accuracy(k.first_mean, k.first_std),
            f"{k.first_step:.0f}",
            format_accuracy(k.last_mean, k.last_std),
            f"{k.last_step:.0f}",
            format_accuracy(k.pixel_mean, k.pixel_std),
        ]

    return _github_table(rows, header, body)


def _write(path: str, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return path


def write_trajectories(rows: Sequence[Row], out_dir: str, *, title: str | None = None) -> list[str]:
    """Write ``peak.md`` and, where runs have the data, ``selection.md`` and
    ``embedding.md`` into ``out_dir``; the paths written."""
    written = []
    intro = _setting_line(rows)
    if any(r.peak is not None for r in rows):
        text = _heading(title, "peak test accuracy") + intro + peak_markdown(rows)
        written.append(
            _write(os.path.join(out_dir, "peak.md"), text + "\n" + "\n".join(PEAK_NOTES) + "\n")
        )
    if any(r.accounting is not None and r.accounting.to_final is not None for r in rows):
        text = _heading(title, "reaching random's accuracy, and equal compute") + intro
        written.append(
            _write(
                os.path.join(out_dir, "accounting.md"),
                text + accounting_markdown(rows) + "\n" + "\n".join(ACCOUNTING_NOTES) + "\n",
            )
        )
    if any(r.rounds is not None for r in rows):
        text = _heading(title, "selection per round") + intro + selection_markdown(rows)
        written.append(
            _write(
                os.path.join(out_dir, "selection.md"),
                text + "\n" + "\n".join(SELECTION_NOTES) + "\n",
            )
        )
    if any(r.embedding_knn is not None for r in rows):
        text = _heading(title, "embedding k-NN accuracy") + intro + embedding_markdown(rows)
        written.append(
            _write(
                os.path.join(out_dir, "embedding.md"),
                text + "\n" + "\n".join(EMBEDDING_NOTES) + "\n",
            )
        )
    return written
