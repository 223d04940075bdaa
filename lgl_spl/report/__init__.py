"""Tables and figures from run workdirs: ``python -m lgl_spl.report RUNS_DIR --out OUT``.

Library use::

    from lgl_spl import report
    runs = report.load_runs(["runs/fmnist"])
    groups = report.group_runs(runs)
    rows = report.summarize(groups)
    report.write_table(rows, "out", title="Fashion-MNIST")  # table.md/.csv, summary.json
    report.write_trajectories(rows, "out")  # peak.md, accounting.md, selection.md, embedding.md
    report.write_findings(rows, "out")  # findings.md: generated sentences
    report.write_runs_json(runs, "out/runs.json")  # what the figures plot
    rows = report.rows_from_summary(report.read_summary("out/summary.json"))  # again
    report.plot_curves(groups, "out/curves.png")
    report.plot_rounds(groups, "out/rounds.png")

Needs numpy; scipy (the tests against random), matplotlib and scikit-learn are imported only by the
functions that use them. Nothing here imports jax.
"""

from lgl_spl.report.accounting import Accounting, Reach
from lgl_spl.report.cli import main
from lgl_spl.report.findings import findings_markdown, write_findings
from lgl_spl.report.plots import group_curve, plot_curves, plot_rounds, plot_toy_loss, round_curve
from lgl_spl.report.portable import read_runs_json, write_runs_json
from lgl_spl.report.rows import Row, compare, summarize
from lgl_spl.report.runs import (
    Group,
    Run,
    find_workdirs,
    group_runs,
    load_run,
    load_runs,
    method_label,
    reference_group,
)
from lgl_spl.report.similarity import StageSimilarity, lgl_similarity, write_similarity
from lgl_spl.report.stats import Comparison, adjust, benjamini_hochberg, holm, rank_test, welch
from lgl_spl.report.summary import read_summary, rows_from_summary
from lgl_spl.report.table import markdown_table, write_table
from lgl_spl.report.trajectories import KnnStats, Peak, RoundStats
from lgl_spl.report.trajectory_tables import write_trajectories
from lgl_spl.report.tsne import plot_tsne, tsne_run

__all__ = [
    "Accounting",
    "Reach",
    "Comparison",
    "adjust",
    "compare",
    "benjamini_hochberg",
    "findings_markdown",
    "holm",
    "rank_test",
    "read_runs_json",
    "read_summary",
    "rows_from_summary",
    "write_findings",
    "write_runs_json",
    "Group",
    "KnnStats",
    "Peak",
    "RoundStats",
    "Row",
    "Run",
    "StageSimilarity",
    "find_workdirs",
    "group_curve",
    "group_runs",
    "lgl_similarity",
    "load_run",
    "load_runs",
    "main",
    "markdown_table",
    "method_label",
    "plot_curves",
    "plot_rounds",
    "plot_toy_loss",
    "plot_tsne",
    "reference_group",
    "round_curve",
    "summarize",
    "tsne_run",
    "welch",
    "write_similarity",
    "write_table",
    "write_trajectories",
]
