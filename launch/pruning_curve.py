"""The pruning curve (the data-diet figure) from a report's summary.json.

    python launch/pruning_curve.py docs/results/controls/fashion_mnist/pruning

Reads the ``prune`` and ``infobatch`` rows of ``DIR/summary.json`` (written by
``python -m lgl_spl.report``, so the figure can be drawn again without the runs) and
writes ``DIR/pruning_curve.png`` (final test accuracy against the kept share, one line per
score, a panel per budget, and InfoBatch's and the pruned runs' accuracy against their
counted compute) and ``DIR/pruning_curve.md`` (the same numbers as a table, with each row's
difference to ``random`` on all the data and its Holm-adjusted p from the report).
"""

from __future__ import annotations

import argparse
import json
import os
import re

SCORES = ("el2n", "forgetting", "grand", "random")
DEFAULTS = {"score": "el2n", "keep_fraction": "0.7", "budget": "updates", "keep": "hardest"}


def settings(label: str) -> dict:
    """``prune (budget=epochs, keep_fraction=0.3)`` -> its settings, defaults filled in."""
    named = dict(re.findall(r"(\w+)=([^,)]+)", label))
    return {**DEFAULTS, **named} if label.startswith("prune") else named


def _pct(value: float | None, unit: float) -> str:
    return "—" if value is None else f"{value * unit:+.2f}"


def _mean_std(row: dict, unit: float) -> str:
    mean, std = row["final_test_accuracy_mean"] * unit, row["final_test_accuracy_std"]
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std * unit:.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", help="a report folder holding summary.json")
    args = p.parse_args()
    with open(os.path.join(args.report, "summary.json")) as f:
        summary = json.load(f)
    unit = 100.0 if summary.get("accuracy_unit", "fraction") == "fraction" else 1.0
    rows = summary["rows"]
    random = next(r for r in rows if r["method"] == "random")
    prune = [(settings(r["method"]), r) for r in rows if r["method"].startswith("prune")]
    infobatch = [(settings(r["method"]), r) for r in rows if r["method"].startswith("infobatch")]

    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.2))
    axes = fig.subplots(1, 3)
    base = random["final_test_accuracy_mean"] * unit
    for ax, budget in zip(axes[:2], ("updates", "epochs"), strict=True):
        for score in SCORES:
            pts = sorted(
                (float(s["keep_fraction"]), r)
                for s, r in prune
                if s["score"] == score and s["budget"] == budget and s["keep"] == "hardest"
            )
            if not pts:
                continue
            xs = [x for x, _ in pts]
            ys = [r["final_test_accuracy_mean"] * unit for _, r in pts]
            es = [(r["final_test_accuracy_std"] or 0.0) * unit for _, r in pts]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=score)
        for i, score in enumerate(SCORES):  # coverage-centric selection, where it ran
            pts = sorted(
                (float(s["keep_fraction"]), r)
                for s, r in prune
                if s["score"] == score and s["budget"] == budget and s["keep"] == "stratified"
            )
            if pts:
                ax.plot(
                    [x for x, _ in pts],
                    [r["final_test_accuracy_mean"] * unit for _, r in pts],
                    ls=":", marker="^", color=f"C{i}", label=f"{score}, stratified (CCS)",
                )  # fmt: skip
        ax.axhline(base, color="k", ls="--", lw=1, label="random, all data")
        ax.set_title(f"prune, random's {budget}")
        ax.set_xlabel("share of the training data kept")
        ax.set_ylabel("final test accuracy (%)")
        ax.legend(fontsize=8)
    ax = axes[2]
    for i, score in enumerate(SCORES):  # the colours of the curves
        group = [r for s, r in prune if s["budget"] == "epochs" and s["score"] == score]
        xs = [r["updates_vs_random"] for r in group]
        ys = [r["final_test_accuracy_mean"] * unit for r in group]
        ax.scatter(xs, ys, color=f"C{i}", label=f"prune {score}, random's epochs")
    xs = [r["updates_vs_random"] for _, r in infobatch]
    ys = [r["final_test_accuracy_mean"] * unit for _, r in infobatch]
    ax.scatter(xs, ys, marker="s", color="C4", s=50, label="infobatch, each prune_ratio")
    ax.scatter([1.0], [base], marker="*", s=120, color="k", label="random")
    ax.set_xlabel("student updates (× random)")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title("accuracy against updates")
    ax.legend(fontsize=8)
    fig.suptitle(summary.get("title", ""))
    fig.tight_layout()
    fig.savefig(os.path.join(args.report, "pruning_curve.png"), dpi=110)

    lines = [
        f"# {summary.get('title', '')}: the pruning curve",
        "",
        f"Made by `python launch/pruning_curve.py {args.report}` from this report's "
        "summary.json. Final test accuracy (%), mean ± std over the seeds; Δ against "
        f"`random` on all the data ({base:.2f} %, {random['seeds']} seeds), in points, with "
        "the report's Holm-adjusted p (one family: every row of the report).",
        "",
        "| score | kept | random's updates: acc. | Δ | Holm p | random's epochs: acc. | Δ | "
        "Holm p | updates (× random) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    keeps = sorted({float(s["keep_fraction"]) for s, _ in prune})
    for score in SCORES:
        for keep in keeps:
            cells = [score, f"{keep:g}"]
            updates = None
            for budget in ("updates", "epochs"):
                match = [
                    r
                    for s, r in prune
                    if s["score"] == score
                    and s["budget"] == budget
                    and float(s["keep_fraction"]) == keep
                    and s["keep"] == "hardest"
                ]
                if not match:
                    cells += ["—"] * 3
                    continue
                r = match[0]
                v = r.get("final_vs_random") or {}
                cells += [
                    _mean_std(r, unit),
                    _pct(v.get("delta"), unit),
                    "—" if v.get("p_holm") is None else f"{v['p_holm']:.3f}",
                ]
                if budget == "epochs":
                    updates = r["updates_vs_random"]
            cells.append("—" if updates is None else f"{updates:.2f}×")
            lines.append("| " + " | ".join(cells) + " |")
    stratified = [(s, r) for s, r in prune if s["keep"] == "stratified"]
    if stratified:
        lines += [
            "",
            "Coverage-centric selection (`keep = stratified`, Zheng et al. 2023) beside the "
            "hardest examples of the same score and share:",
            "",
            "| score | kept | budget | stratified: acc. | Δ | Holm p | hardest: acc. |",
            "|---|---:|---|---:|---:|---:|---:|",
        ]
        for s, r in sorted(stratified, key=lambda sr: (sr[0]["score"], sr[0]["keep_fraction"])):
            v = r.get("final_vs_random") or {}
            hard = [
                h
                for t, h in prune
                if t["keep"] == "hardest"
                and (t["score"], t["keep_fraction"], t["budget"])
                == (s["score"], s["keep_fraction"], s["budget"])
            ]
            lines.append(
                f"| {s['score']} | {float(s['keep_fraction']):g} | {s['budget']} | "
                f"{_mean_std(r, unit)} | {_pct(v.get('delta'), unit)} | "
                f"{'—' if v.get('p_holm') is None else format(v['p_holm'], '.3f')} | "
                f"{_mean_std(hard[0], unit) if hard else '—'} |"
            )
    if infobatch:
        lines += [
            "",
            "| InfoBatch | acc. | Δ | Holm p | updates (× random) | wall time (× random) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for _, r in sorted(infobatch, key=lambda sr: sr[1]["updates_vs_random"]):
            v = r.get("final_vs_random") or {}
            lines.append(
                f"| {r['method']} | {_mean_std(r, unit)} | "
                f"{_pct(v.get('delta'), unit)} | "
                f"{'—' if v.get('p_holm') is None else format(v['p_holm'], '.3f')} | "
                f"{r['updates_vs_random']:.2f}× | {r['wall_time_vs_random']:.2f}× |"
            )
    with open(os.path.join(args.report, "pruning_curve.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote pruning_curve.png and pruning_curve.md in {args.report}")


if __name__ == "__main__":
    main()
