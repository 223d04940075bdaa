"""Tables and figures from run workdirs: ``python -m lgl_spl.report RUNS_DIR --out OUT``.

Library use::

    from lgl_spl import report
    runs = report.load_runs(["runs/fmnist"])
    groups = report.group_runs(runs)
    rows = report.summarize(groups)
    report.write_table(rows, "out", title="Fashion-MNIST")
    report.plot_curves(groups, "out/curves.png")

Needs numpy; matplotlib and scikit-learn are imported only by the plotting functions.
Nothing here imports jax.
"""

from lgl_spl.report.cli import main
from lgl_spl.report.plots import group_curve, plot_curves, plot_toy_loss
from lgl_spl.report.runs import (
    Group,
    Run,
    find_workdirs,
    group_runs,
    load_run,
    load_runs,
    method_label,
)
from lgl_spl.report.similarity import StageSimilarity, lgl_similarity, write_similarity
from lgl_spl.report.table import Row, markdown_table, summarize, write_table
from lgl_spl.report.tsne import plot_tsne, tsne_run

__all__ = [
    "Group",
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
    "plot_toy_loss",
    "plot_tsne",
    "summarize",
    "tsne_run",
    "write_similarity",
    "write_table",
]
