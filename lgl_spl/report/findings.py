"""``findings.md``: the report's results as generated sentences, for readings to quote.

Every number here is computed from the rows of the table (per-seed values and the tests
against ``random``), so prose that quotes this file cannot drift from the table. The
file states the family of comparisons and how many survive the corrections, then one
sentence per method and block with its seeds, difference, interval and every p-value.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from lgl_spl.report.accounting import BEFORE, BEYOND, Reach
from lgl_spl.report.cells import (
    format_accuracy,
    format_p,
    format_points,
    heading,
    seed_line,
    setting_line,
)
from lgl_spl.report.rows import Row
from lgl_spl.report.runs import condition_label
from lgl_spl.report.stats import ALPHA, Comparison


def _p(name: str, p: float | None) -> str:
    text = format_p(p)
    return f"{name} < {text[1:]}" if text.startswith("<") else f"{name} = {text}"


def _block(row: Row) -> str:
    return condition_label(row.condition)


def _seeds(values: Sequence[float]) -> str:
    return ", ".join(f"{100 * v:.2f}" for v in values)


def comparison_sentence(row: Row) -> str:
    """``spl`` against ``random`` in one block: its mean, the difference and the tests."""
    c = row.final_vs_random
    mean = format_accuracy(row.final_test_accuracy_mean, row.final_test_accuracy_std)
    head = f"`{row.method}`: {mean} % ({row.seeds} seeds: {_seeds(row.final_test_accuracy)})"
    if row.is_reference:
        return head + "; the reference"
    if c is None:
        return head + "; no `random` to compare with"
    text = head + f"; Δ {format_points(c.delta)} pts"
    if c.ci95 is not None:
        text += f" (95 % CI [{format_points(c.ci95[0])}, {format_points(c.ci95[1])}])"
    if c.p is None:
        return text + f"; no test ({c.why_na})"
    text += (
        f", {_p('Welch p', c.p)}, {_p('Holm p', c.p_holm)}, {_p('BH q', c.q_bh)}, "
        f"{_p('rank p', c.p_rank)}"
    )
    if c.significant:
        text += f": {'better' if c.delta > 0 else 'worse'} than `random` after Holm"
    elif c.significant_raw:
        text += f": Welch p < {ALPHA} before correction only"
    return text


def _reach_clause(what: str, x: Reach) -> str:
    """``reaches `random`'s final mean (80.00 %) at step 300 (median over seeds; …)``."""
    target = f"`random`'s {what} ({100 * x.target:.2f} %)"
    if not x.reached:
        return f"never reaches {target} in any of its {x.seeds} seeds"
    if x.steps_median is None:
        return (
            f"reaches {target} in only {x.reached} of its {x.seeds} seeds (mean step "
            f"{x.steps_mean:.0f}), so its median is never"
        )
    text = (
        f"reaches {target} at step {x.steps_median:.0f} (median over seeds; mean "
        f"{x.steps_mean:.0f} over the {x.reached} that reach it)"
    )
    if x.wall_time_median is not None:
        text += f", after {x.wall_time_median:.1f} s (median)"
    return text + (f"; {x.never} of {x.seeds} seeds never do" if x.never else "")


def accounting_sentence(row: Row) -> str | None:
    """Reach of `random`'s final and peak, and the equal-compute view; None without them."""
    a = row.accounting
    if a is None or a.to_final is None:
        return None
    parts = [_reach_clause("final mean", a.to_final)]
    if a.to_peak is not None:
        parts.append(_reach_clause("peak", a.to_peak))
    text = "It " + "; it ".join(parts) + "."
    if a.compute_vs_random is not None and not row.is_reference:
        text += f" Its compute is {a.compute_vs_random:.2f}× `random`'s"
        if a.equal_compute_status == BEYOND:
            text += ", beyond `random`'s whole run"
        elif a.equal_compute_status == BEFORE:
            text += ", less than `random`'s first evaluation"
        elif a.random_at_equal_compute is not None:
            delta = row.final_test_accuracy_mean - a.random_at_equal_compute
            text += (
                f"; with as much, `random` reaches {100 * a.random_at_equal_compute:.2f} % "
                f"(Δ {format_points(delta)} pts)"
            )
        if a.at_random_compute_mean is not None:
            text += f"; at `random`'s total compute it has {100 * a.at_random_compute_mean:.2f} %"
        text += "."
    return text


def _where(row: Row) -> str:
    """The block of a listed comparison (its sentence names the method)."""
    return condition_label(row.condition) or "all runs"


def _family_lines(name: str, comparisons: Sequence[tuple[Row, Comparison]]) -> list[str]:
    tested = [(r, c) for r, c in comparisons if c.p is not None]
    if not tested:
        return [f"- {name}: no comparison with a p-value."]
    raw = [(r, c) for r, c in tested if c.significant_raw]
    holm = [(r, c) for r, c in tested if c.significant]
    bh = [(r, c) for r, c in tested if c.q_bh is not None and c.q_bh < ALPHA]
    return [
        f"- {name}: {len(tested)} comparisons with `random`; {len(raw)} at Welch p < {ALPHA} "
        f"(about {ALPHA * len(tested):.1f} expected by chance if no method differed), "
        f"{len(holm)} after Holm's correction, {len(bh)} at BH q < {ALPHA}."
    ]


def findings_markdown(
    rows: Sequence[Row],
    *,
    title: str | None = None,
    seed_rule: str | None = None,
    note: str | None = None,
) -> str:
    """The text of findings.md."""
    final = [(r, r.final_vs_random) for r in rows if r.final_vs_random is not None]
    best = [(r, r.best_val_vs_random) for r in rows if r.best_val_vs_random is not None]
    out = [
        heading(title, "findings")
        + setting_line(rows)
        + seed_line(rows, seed_rule)
        + (f"{note}\n\n" if note else "")
        + "Generated from the table's per-seed values (`table.md`, `summary.json`); "
        "percentages are test accuracies, Δ is in percentage points against `random` of "
        "the same block, *Holm p* and *BH q* are corrected over the family below, *rank p* "
        "is the exact Mann–Whitney U test.\n",
        "## Multiple comparisons\n",
        *_family_lines("Final test accuracy (the family of the ▲ / ▼ marks)", final),
        *_family_lines("Best-val test accuracy (a second family)", best),
    ]
    holm = [(r, c) for r, c in final if c.significant]
    raw_only = [(r, c) for r, c in final if c.significant_raw and not c.significant]
    disagree = [(r, c) for r, c in final if c.rank_disagrees]
    out.append(f"\n## Significant after Holm (final test accuracy, Holm p < {ALPHA})\n")
    out += [f"- {_where(r)}: {comparison_sentence(r)}" for r, _ in holm] or ["- none"]
    out.append(f"\n## Welch p < {ALPHA} before correction only\n")
    out += [f"- {_where(r)}: {comparison_sentence(r)}" for r, _ in raw_only] or ["- none"]
    out.append(f"\n## Where the rank test and Welch's disagree at {ALPHA}\n")
    out += [
        f"- {_where(r)}: `{r.method}`, {_p('Welch p', c.p)}, {_p('rank p', c.p_rank)} "
        f"({c.n} against {c.n_ref} seeds)"
        for r, c in disagree
    ] or ["- none"]
    out.append("\n## Every method, by block\n")
    blocks: dict[tuple, list[Row]] = {}
    for r in rows:
        blocks.setdefault((r.dataset, r.setting, _block(r)), []).append(r)
    many = len({(r.dataset, r.setting) for r in rows}) > 1
    for (dataset, setting, block), members in blocks.items():
        name = " · ".join(([dataset, setting] if many else []) + ([block] if block else []))
        name = name or "every method"
        out.append(f"\n### {name}\n")
        for r in members:
            out.append(f"- {comparison_sentence(r)}.")
            if r.is_reference and r.peak is not None:
                epoch = "" if r.peak.epoch is None else f" (epoch {r.peak.epoch:.1f})"
                out.append(
                    f"  Its mean test curve peaks at {100 * r.peak.test_accuracy:.2f} % at step "
                    f"{r.peak.step}{epoch} and ends {100 * r.peak.drop:.2f} pts lower."
                )
            reach = accounting_sentence(r)
            if reach is not None:
                out.append(f"  {reach}")
    return "\n".join(out) + "\n"


def write_findings(
    rows: Sequence[Row],
    out_dir: str,
    *,
    title: str | None = None,
    seed_rule: str | None = None,
    note: str | None = None,
) -> str:
    """Write ``findings.md`` into ``out_dir``; its path."""
    path = os.path.join(out_dir, "findings.md")
    with open(path, "w") as f:
        f.write(findings_markdown(rows, title=title, seed_rule=seed_rule, note=note))
    return path
