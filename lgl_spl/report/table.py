"""The results table: accuracy over seeds, its difference from ``random`` (Welch's test),
and cost relative to ``random``, written as ``table.md`` (a GitHub table), ``table.csv`` and
``summary.json``. The other tables along a run are in ``trajectory_tables.py``.

A new column is one line: in :data:`RESULT_COLUMNS` for table.md, in :data:`CSV_COLUMNS`
for table.csv (summary.json keeps every field of the :class:`Row`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence

from lgl_spl.report.accounting import CONVENTION
from lgl_spl.report.cells import (
    METHOD,
    SEEDS,
    Column,
    final_cell,
    format_accuracy,
    format_p,
    format_points,
    format_ratio,
    github_table,
    heading,
    marked,
    seed_line,
    setting_line,
)
from lgl_spl.report.rows import Row
from lgl_spl.report.stats import ALPHA

STD_NOTE = "± is the sample standard deviation over seeds (ddof=1)"

VERSUS_HEADER = ["Δ vs random (pts)", "95 % CI (pts)", "p", "Holm p", "BH q", "rank p"]


def _versus_cells(row: Row) -> list[str]:
    """Δ vs random, its 95 % interval, Welch's p, Holm's p, BH's q and the rank test's p
    (final test accuracy)."""
    if row.is_reference:
        return ["ref."] + ["—"] * (len(VERSUS_HEADER) - 1)
    c = row.final_vs_random
    if c is None:
        return ["n/a"] * len(VERSUS_HEADER)
    delta = format_points(c.delta) + (" ≈" if c.within_two_std else "")
    ci = "n/a" if c.ci95 is None else f"[{format_points(c.ci95[0])}, {format_points(c.ci95[1])}]"
    rank = format_p(c.p_rank) + (" ≠" if c.rank_disagrees else "")
    return [delta, ci, format_p(c.p), format_p(c.p_holm), format_p(c.q_bh), rank]


def _wall_cell(row: Row) -> str:
    if row.wall_time_mean is None:
        return "n/a"
    mark = "†" if row.wall_time_lower_bound else ""
    return f"{format_ratio(row.wall_time_vs_random)} ({row.wall_time_mean:.0f} s{mark})"


RESULT_COLUMNS: list[Column] = [
    METHOD,
    SEEDS,
    ("final test acc. (%)", lambda r: marked(final_cell(r), r.final_vs_random)),
    *[(h, lambda r, i=i: _versus_cells(r)[i]) for i, h in enumerate(VERSUS_HEADER)],
    (
        "best-val test acc. (%)",
        lambda r: marked(
            format_accuracy(r.best_val_test_accuracy_mean, r.best_val_test_accuracy_std),
            r.best_val_vs_random,
        ),
    ),
    ("student updates (× random)", lambda r: format_ratio(r.updates_vs_random)),
    (
        "extra fwd passes (× random training)",
        lambda r: format_ratio(r.extra_forward_vs_random_training),
    ),
    ("wall time (× random)", _wall_cell),
]


def markdown_table(rows: Sequence[Row]) -> str:
    """A GitHub table; dataset/setting/condition columns only when they vary."""
    return github_table(rows, RESULT_COLUMNS)


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

# ---- table.csv --------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.4f}"


def _num(x: float) -> str:
    return f"{x:.6g}"


def _at(path: str, cell: Callable = lambda v: v) -> Callable[[Row], object]:
    """The CSV cell of ``path`` in a row (``"peak.step"``, ``"accounting.to_final.never"``):
    ``cell`` of the value, empty where it or a part on the way is None."""
    names = path.split(".")

    def get(row: Row):
        value = row
        for name in names:
            value = None if value is None else getattr(value, name)
        return "" if value is None else cell(value)

    return get


def _low(ci: list[float]) -> str:
    return _pct(ci[0])


def _high(ci: list[float]) -> str:
    return _pct(ci[1])


def _versus_csv(prefix: str, attr: str) -> list[tuple[str, Callable]]:
    return [
        (f"{prefix}delta_vs_random_pts", _at(f"{attr}.delta", _pct)),
        (f"{prefix}delta_ci95_low_pts", _at(f"{attr}.ci95", _low)),
        (f"{prefix}delta_ci95_high_pts", _at(f"{attr}.ci95", _high)),
        (f"{prefix}p_vs_random", _at(f"{attr}.p", _num)),
    ]


def _adjusted_csv(prefix: str, attr: str) -> list[tuple[str, Callable]]:
    return [
        (f"{prefix}p_holm_vs_random", _at(f"{attr}.p_holm", _num)),
        (f"{prefix}q_bh_vs_random", _at(f"{attr}.q_bh", _num)),
        (f"{prefix}p_rank_vs_random", _at(f"{attr}.p_rank", _num)),
    ]


def _reach_csv(name: str, attr: str) -> list[tuple[str, Callable]]:
    return [
        (f"random_{name}_target_pct", _at(f"{attr}.target", _pct)),
        (f"to_random_{name}_steps_median", _at(f"{attr}.steps_median", _num)),
        (f"to_random_{name}_steps_mean", _at(f"{attr}.steps_mean", _num)),
        (f"to_random_{name}_never", _at(f"{attr}.never")),
        (f"to_random_{name}_wall_time_median_s", _at(f"{attr}.wall_time_median", _num)),
        (f"to_random_{name}_wall_time_mean_s", _at(f"{attr}.wall_time_mean", _num)),
    ]


# table.csv's columns in order (name, cell). Columns added later go at the end, so readers
# by position keep working.
CSV_COLUMNS: list[tuple[str, Callable[[Row], object]]] = [
    ("dataset", _at("dataset")),
    ("setting", _at("setting")),
    ("method", _at("method")),
    ("seeds", _at("seeds")),
    ("unfinished", _at("unfinished")),
    ("num_steps", _at("num_steps")),
    ("final_test_accuracy_mean_pct", _at("final_test_accuracy_mean", _pct)),
    ("final_test_accuracy_std_pct", _at("final_test_accuracy_std", _pct)),
    ("best_val_test_accuracy_mean_pct", _at("best_val_test_accuracy_mean", _pct)),
    ("best_val_test_accuracy_std_pct", _at("best_val_test_accuracy_std", _pct)),
    ("updates_vs_random", _at("updates_vs_random", _num)),
    ("extra_forward_passes_mean", _at("extra_forward_passes_mean", _num)),
    ("extra_forward_vs_random_training", _at("extra_forward_vs_random_training", _num)),
    ("wall_time_mean_s", _at("wall_time_mean", _num)),
    ("wall_time_vs_random", _at("wall_time_vs_random", _num)),
    ("wall_time_lower_bound", _at("wall_time_lower_bound", int)),
    ("label_noise", _at("label_noise", _num)),
    ("label_noise_type", _at("label_noise_type")),
    ("budget_steps", _at("budget_steps")),
    ("max_fraction", _at("max_fraction", _num)),
    ("reference", _at("reference")),
    *_versus_csv("", "final_vs_random"),
    ("within_two_std", _at("final_vs_random.within_two_std", int)),
    *_versus_csv("best_val_", "best_val_vs_random"),
    ("peak_test_accuracy_pct", _at("peak.test_accuracy", _pct)),
    ("peak_step", _at("peak.step")),
    ("peak_epoch", _at("peak.epoch", _num)),
    ("peak_drop_pts", _at("peak.drop", _pct)),
    ("selected_fraction_mean", _at("rounds.selected_fraction", _num)),
    ("noisy_fraction", _at("rounds.noisy_fraction", _num)),
    ("noisy_selected_fraction_mean", _at("rounds.noisy_selected_fraction", _num)),
    ("selection_precision", _at("rounds.selection_precision", _num)),
    ("class_share_min", _at("rounds.class_share_min", _num)),
    ("class_share_max", _at("rounds.class_share_max", _num)),
    ("selected_loss_last_round", _at("rounds.selected_loss", _num)),
    ("candidate_loss_last_round", _at("rounds.candidate_loss", _num)),
    ("il_mean_loss", _at("rounds.il_mean_loss", _num)),
    ("embed_knn_first_pct", _at("embedding_knn.first_mean", _pct)),
    ("embed_knn_last_pct", _at("embedding_knn.last_mean", _pct)),
    ("pixel_knn_pct", _at("embedding_knn.pixel_mean", _pct)),
    *_adjusted_csv("", "final_vs_random"),
    *_adjusted_csv("best_val_", "best_val_vs_random"),
    *_reach_csv("final", "accounting.to_final"),
    *_reach_csv("peak", "accounting.to_peak"),
    ("compute_forward_equivalents_mean", _at("accounting.compute", _num)),
    ("compute_vs_random", _at("accounting.compute_vs_random", _num)),
    ("random_at_equal_compute_pct", _at("accounting.random_at_equal_compute", _pct)),
    ("equal_compute_status", _at("accounting.equal_compute_status")),
    ("at_random_compute_pct", _at("accounting.at_random_compute_mean", _pct)),
]


def write_csv(rows: Sequence[Row], path: str) -> str:
    """table.csv: one line per row, the columns of :data:`CSV_COLUMNS`."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[name for name, _ in CSV_COLUMNS])
        writer.writeheader()
        for r in rows:
            writer.writerow({name: cell(r) for name, cell in CSV_COLUMNS})
    return path


# ---- the three files --------------------------------------------------------------------------


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
        f.write(heading(title, "results") + setting_line(rows) + seed_line(rows, seed_rule))
        f.write((f"{note}\n\n" if note else "") + markdown_table(rows))
        f.write("\n" + "\n".join(NOTES) + "\n")
    csv_path = write_csv(rows, os.path.join(out_dir, "table.csv"))
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
        "rows": [r.to_record() for r in rows],
    }
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=1, allow_nan=False)
    return [md_path, csv_path, json_path]
