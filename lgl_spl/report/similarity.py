"""LGL Table 2: which remaining classes the student finds close to / far from the trained ones.

LGL runs with order ``dissimilar`` or ``similar`` log ``class_entropies`` on the rows of
stages ≥ 1: H(T|X_i) of each class i not yet trained, measured when the stage began
(``null`` for the classes trained before it). Low entropy = the student confidently maps
class i onto a trained class = similar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lgl_spl.report.runs import Run


@dataclass
class StageSimilarity:
    """One stage ≥ 1 of one LGL run."""

    run: str  # workdir
    method: str  # label, e.g. lgl_d3
    seed: int
    stage: int
    trained: list[str]  # classes trained before this stage (entropy measured against them)
    lowest: list[tuple[str, float]]  # the k remaining classes of lowest entropy, ascending
    highest: list[tuple[str, float]]  # the k of highest entropy, descending
    added: list[str]  # the classes this stage added (from the row's ``classes``)


def lgl_similarity(runs: Sequence[Run], *, k: int = 3) -> list[StageSimilarity]:
    """One entry per (LGL run with ``class_entropies``, stage ≥ 1), in run and stage order."""
    out = []
    for run in sorted(runs, key=lambda r: (r.dataset, r.label, r.seed, r.path)):
        if run.method != "lgl":
            continue
        seen = set()
        for row in run.rows:
            entropies = row.get("class_entropies")
            stage = int(row.get("stage", 0))
            # The entropies stay fixed through a stage: its first row is enough.
            if not entropies or stage < 1 or stage in seen:
                continue
            seen.add(stage)
            trained = [i for i, h in enumerate(entropies) if h is None]
            remaining = [(i, float(h)) for i, h in enumerate(entropies) if h is not None]
            ascending = sorted(remaining, key=lambda t: (t[1], t[0]))
            descending = sorted(remaining, key=lambda t: (-t[1], t[0]))
            added = sorted(set(row.get("classes", [])) - set(trained))
            out.append(
                StageSimilarity(
                    run=run.path,
                    method=run.label,
                    seed=run.seed,
                    stage=stage,
                    trained=[run.class_name(i) for i in trained],
                    lowest=[(run.class_name(i), h) for i, h in ascending[:k]],
                    highest=[(run.class_name(i), h) for i, h in descending[:k]],
                    added=[run.class_name(i) for i in added],
                )
            )
    return out


def _names(pairs: Sequence[tuple[str, float]]) -> str:
    return ", ".join(f"{name} ({h:.3f})" for name, h in pairs)


def similarity_markdown(entries: Sequence[StageSimilarity], *, k: int = 3) -> str:
    """Markdown tables, one per run, in the shape of LGL Table 2."""
    lines = []
    by_run: dict[str, list[StageSimilarity]] = {}
    for e in entries:
        by_run.setdefault(e.run, []).append(e)
    for path, stages in by_run.items():
        first = stages[0]
        lines += [f"## {first.method}, seed {first.seed}", "", f"`{path}`", ""]
        lines += [
            f"| stage | trained classes | lowest H(T\\|X_i) (top {k}) "
            f"| highest H(T\\|X_i) (top {k}) | added this stage |",
            "|---:|:---|:---|:---|:---|",
        ]
        for e in stages:
            cells = [
                str(e.stage),
                ", ".join(e.trained),
                _names(e.lowest),
                _names(e.highest),
                ", ".join(e.added),
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_similarity(
    entries: Sequence[StageSimilarity], path: str, *, k: int = 3, title: str | None = None
) -> str:
    """Write ``lgl_similarity.md``; returns ``path``."""
    heading = f"# {title}: LGL class similarity" if title else "# LGL class similarity"
    intro = (
        "H(T|X_i): mean entropy of the student's softmax over the trained classes on the "
        "examples of a remaining class i, measured at the start of each stage (LGL Table 2). "
        "Low = similar to the trained classes, high = dissimilar. `dissimilar` adds the "
        "highest, `similar` the lowest.\n"
    )
    with open(path, "w") as f:
        f.write(f"{heading}\n\n{intro}\n{similarity_markdown(entries, k=k)}")
    return path
