"""Rows back from a committed ``summary.json``, with the statistics recomputed.

A report's run directories are large and often gone; its ``summary.json`` keeps every
per-seed final and best-validation accuracy, so the tables, the tests against ``random``
(Welch, the rank test, Holm and Benjamini–Hochberg) and ``findings.md`` can be rendered
again from it alone. Reports written before a field existed get that field's neutral
value (:meth:`Row.from_record`).
"""

from __future__ import annotations

from lgl_spl.report.portable import read_report_json
from lgl_spl.report.rows import Row, compare


def read_summary(path: str) -> dict:
    """The JSON object of ``path``; ValueError (one line) when it is not a report summary."""
    return read_report_json(path, "rows", "summary.json")


def rows_from_summary(summary: dict) -> list[Row]:
    """:class:`Row` objects of a summary, comparisons recomputed from the per-seed values.

    The reference of a row is the ``random`` row of its dataset, setting and condition
    (label noise, noise type, budget) whose label is the one the summary names (or plain
    ``random`` in summaries that predate the field).
    """
    rows = [Row.from_record(r) for r in summary["rows"]]
    compare(rows)
    return rows
