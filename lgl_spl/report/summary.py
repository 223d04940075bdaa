"""Rows back from a committed ``summary.json``, with the statistics recomputed.

A report's run directories are large and often gone; its ``summary.json`` keeps every
per-seed final and best-validation accuracy, so the tables, the tests against ``random``
(Welch, the rank test, Holm and Benjamini–Hochberg) and ``findings.md`` can be rendered
again from it alone. Reports written before a field existed get that field's neutral
value (no label noise, uncapped, the budget is the run length, no peak, rounds or
accounting: shown as —).
"""

from __future__ import annotations

from dataclasses import fields

from lgl_spl.report.accounting import Accounting
from lgl_spl.report.portable import read_report_json
from lgl_spl.report.stats import welch
from lgl_spl.report.table import Row, adjust_families
from lgl_spl.report.trajectories import KnnStats, Peak, RoundStats


def read_summary(path: str) -> dict:
    """The JSON object of ``path``; ValueError (one line) when it is not a report summary."""
    return read_report_json(path, "rows", "summary.json")


def _build(cls, value):
    if value is None:
        return None
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in value.items() if k in names})


def _context(row: dict) -> tuple:
    return (
        row["dataset"],
        row["setting"],
        float(row.get("label_noise") or 0.0),
        row.get("label_noise_type"),
        int(row.get("budget_steps") or row["num_steps"]),
    )


def rows_from_summary(summary: dict) -> list[Row]:
    """:class:`Row` objects of a summary, comparisons recomputed from the per-seed values.

    The reference of a row is the ``random`` row of its dataset, setting and condition
    (label noise, noise type, budget) whose label is the one the summary names (or plain
    ``random`` in summaries that predate the field).
    """
    raw = summary["rows"]
    by_label = {(_context(r), r["method"]): r for r in raw}
    rows = []
    for r in raw:
        context = _context(r)
        ref_label = r.get("reference")
        if "reference" not in r:  # older summaries: random of the same context, if any
            ref_label = "random" if (context, "random") in by_label else None
        ref = by_label.get((context, ref_label)) if ref_label else None
        versus = ref is not None and ref is not r
        final = [float(x) for x in r["final_test_accuracy"]]
        best = [float(x) for x in r.get("best_val_test_accuracy") or []]
        ref_best = [float(x) for x in (ref.get("best_val_test_accuracy") or [])] if versus else []
        rows.append(
            Row(
                dataset=r["dataset"],
                setting=r["setting"],
                method=r["method"],
                seeds=int(r["seeds"]),
                unfinished=int(r.get("unfinished") or 0),
                num_steps=int(r["num_steps"]),
                batch_size=int(r["batch_size"]),
                final_test_accuracy=final,
                final_test_accuracy_mean=r["final_test_accuracy_mean"],
                final_test_accuracy_std=r["final_test_accuracy_std"],
                best_val_test_accuracy=best,
                best_val_test_accuracy_mean=r.get("best_val_test_accuracy_mean"),
                best_val_test_accuracy_std=r.get("best_val_test_accuracy_std"),
                extra_forward_passes_mean=r["extra_forward_passes_mean"],
                wall_time_mean=r.get("wall_time_mean"),
                wall_time_lower_bound=bool(r.get("wall_time_lower_bound")),
                timing_mean=dict(r.get("timing_mean") or {}),
                updates_vs_random=r.get("updates_vs_random"),
                extra_forward_vs_random_training=r.get("extra_forward_vs_random_training"),
                wall_time_vs_random=r.get("wall_time_vs_random"),
                condition=dict(r.get("condition") or {}),
                label_noise=float(r.get("label_noise") or 0.0),
                label_noise_type=r.get("label_noise_type"),
                budget_steps=context[-1],
                max_fraction=r.get("max_fraction"),
                reference=ref_label if ref is not None else None,
                final_vs_random=(
                    welch(final, [float(x) for x in ref["final_test_accuracy"]]) if versus else None
                ),
                best_val_vs_random=welch(best, ref_best) if versus and best else None,
                peak=_build(Peak, r.get("peak")),
                rounds=_build(RoundStats, r.get("rounds")),
                embedding_knn=_build(KnnStats, r.get("embedding_knn")),
                accounting=Accounting.from_dict(r.get("accounting")),
            )
        )
    adjust_families(rows)
    return rows
