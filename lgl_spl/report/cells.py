"""How the report's markdown files spell a :class:`~lgl_spl.report.rows.Row`: the number
formats, and GitHub tables declared as columns (a header and the function that gives a
row's cell), so a new column is one line where its table is declared."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from lgl_spl.report.rows import Row
from lgl_spl.report.runs import condition_label
from lgl_spl.report.stats import Comparison

Column = tuple[str, Callable[[Row], str]]  # (header, the cell of a row)


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


def final_cell(row: Row) -> str:
    return format_accuracy(row.final_test_accuracy_mean, row.final_test_accuracy_std)


def seeds_cell(row: Row) -> str:
    return f"{row.seeds} ({row.unfinished} unfinished)" if row.unfinished else str(row.seeds)


def marked(text: str, c: Comparison | None) -> str:
    """``text`` with the comparison's ▲ / ▼ mark, if any."""
    return f"{text} {c.mark}" if c is not None and c.mark else text


METHOD: Column = ("method", lambda r: r.method)
SEEDS: Column = ("seeds", seeds_cell)


def _lead(rows: Sequence[Row]) -> list[Column]:
    """Leading dataset / setting / condition columns, only those that vary."""
    columns: list[Column] = []
    if len({r.dataset for r in rows}) > 1:
        columns.append(("dataset", lambda r: r.dataset))
    if len({(r.dataset, r.setting) for r in rows}) > 1:
        columns.append(("setting", lambda r: r.setting))
    if any(r.condition for r in rows):
        columns.append(("condition", lambda r: condition_label(r.condition) or "—"))
    return columns


def github_table(rows: Sequence[Row], columns: Sequence[Column]) -> str:
    """A GitHub table of ``columns`` after the leading columns that vary; the first of
    ``columns`` left-aligned, the rest right-aligned."""
    lead = _lead(rows)
    header = [h for h, _ in lead + list(columns)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(lead) + [":---"] + ["---:"] * (len(columns) - 1)) + "|",
    ]
    for r in rows:
        cells = [cell(r) for _, cell in lead + list(columns)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def setting_line(rows: Sequence[Row]) -> str:
    """``Runs on dataset `…`, setting `…`, label noise ….`` for what every row shares."""
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


def heading(title: str | None, what: str) -> str:
    return f"# {title}: {what}\n\n" if title else f"# {what[:1].upper()}{what[1:]}\n\n"


def seed_line(rows: Sequence[Row], seed_rule: str | None) -> str:
    """The seed rule declared before the runs, and the seed counts the table has."""
    counts = sorted({r.seeds for r in rows})
    have = "every row has " + " or ".join(map(str, counts)) + " seeds"
    if seed_rule:
        return f"Seed rule: {seed_rule}. In this table {have}.\n\n"
    return f"Seeds: {have}; no seed rule was recorded with this report.\n\n"


def write_text(path: str, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return path
