"""Curves over student updates: test accuracy (SPL-ADVisE Fig. 3, LGL Fig. 3) and the toy
training loss (LGL Fig. 2).

matplotlib is imported inside the functions and used through ``Figure`` objects (Agg),
never through pyplot's global state, so importing the report stays cheap and a
notebook's backend is left alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lgl_spl.report.runs import Group

BANDS = ("minmax", "std")
BAND_NOTE = {"minmax": "band: min–max over seeds", "std": "band: ± 1 std over seeds"}


@dataclass
class Curve:
    """One metric of one group against student updates, over seeds."""

    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray  # seeds with a value at each step


def group_curve(group: Group, key: str, *, band: str = "minmax") -> Curve:
    """Mean of ``key`` over the group's runs at every logged step.

    Steps are the union over runs; a step where only some runs have a value
    (an unfinished run, or a missing value) averages over those.
    """
    if band not in BANDS:
        raise ValueError(f"band must be one of {BANDS}, got {band!r}")
    steps = np.unique(np.concatenate([r.steps for r in group.runs]))
    table = np.full((len(group.runs), steps.size), np.nan)
    for i, run in enumerate(group.runs):
        table[i, np.searchsorted(steps, run.steps)] = run.column(key)
    count = np.isfinite(table).sum(0)
    keep = count > 0
    table, steps, count = table[:, keep], steps[keep], count[keep]
    mean = np.nanmean(table, 0)
    if band == "minmax":
        low, high = np.nanmin(table, 0), np.nanmax(table, 0)
    else:
        std = np.array(
            [np.nanstd(c, ddof=1) if n > 1 else 0.0 for c, n in zip(table.T, count, strict=True)]
        )
        low, high = mean - std, mean + std
    return Curve(steps, mean, low, high, count)


def _colours(labels: Sequence[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _grid(n: int, width: float = 6.0, height: float = 4.2):
    from matplotlib.figure import Figure

    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _panels(groups: Sequence[Group]) -> dict[tuple[str, str], list[Group]]:
    panels: dict[tuple[str, str], list[Group]] = {}
    for g in groups:
        panels.setdefault((g.dataset, g.setting), []).append(g)
    return panels


def _draw(ax, curve: Curve, label: str, colour, *, scale: float = 1.0) -> None:
    ax.plot(curve.steps, scale * curve.mean, label=label, color=colour, lw=1.6)
    if (curve.count > 1).any():
        ax.fill_between(
            curve.steps, scale * curve.low, scale * curve.high, color=colour, alpha=0.18, lw=0
        )


def plot_curves(
    groups: Sequence[Group], path: str, *, title: str | None = None, band: str = "minmax"
) -> str | None:
    """Test accuracy (%) against student updates, one line per method (mean over seeds)
    with a shaded band, one panel per (dataset, setting). Returns ``path``, or None
    when there is nothing to plot."""
    panels = _panels(groups)
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    colours = _colours(list(dict.fromkeys(g.label for g in groups)))
    for ax, ((dataset, setting), members) in zip(axes, panels.items(), strict=True):
        for g in members:
            _draw(
                ax, group_curve(g, "test_accuracy", band=band), g.label, colours[g.label], scale=100
            )
        ax.set_title(f"{dataset} · {setting}" if len(panels) > 1 else setting, fontsize=10)
        ax.set_xlabel("student updates")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    heading = f"{title}: test accuracy" if title else "Test accuracy"
    fig.suptitle(f"{heading}\n(mean over seeds; {BAND_NOTE[band]})", fontsize=11)
    fig.savefig(path, dpi=120)
    return path


def plot_toy_loss(
    groups: Sequence[Group],
    path: str,
    *,
    title: str | None = None,
    band: str = "minmax",
    key: str = "train_loss",
) -> str | None:
    """LGL Fig. 2: training loss against student updates on the toy data, one panel per
    (network, layout), one line per method (``random`` is drawn as "baseline").
    Returns ``path``, or None when there are no toy runs.

    ``train_loss`` is the mean loss of the updates since the previous evaluation, i.e.
    on the examples each method trained on (SPL's selection, LGL's classes so far).
    """
    toy = [g for g in groups if g.is_toy]
    if not toy:
        return None
    panels = _panels(toy)
    fig, axes = _grid(len(panels), width=4.5, height=3.6)

    def shown(g: Group) -> str:
        return "baseline" + g.label[len("random") :] if g.method == "random" else g.label

    colours = _colours(list(dict.fromkeys(shown(g) for g in toy)))
    for ax, ((_, setting), members) in zip(axes, panels.items(), strict=True):
        for g in members:
            _draw(ax, group_curve(g, key, band=band), shown(g), colours[shown(g)])
        network, _, layout = setting.partition("/")
        ax.set_title(f"network {network}, layout {layout}", fontsize=10)
        ax.set_xlabel("student updates")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    heading = f"{title}: toy training loss" if title else "Toy data: training loss"
    fig.suptitle(f"{heading}\n(mean over seeds; {BAND_NOTE[band]})", fontsize=11)
    fig.savefig(path, dpi=120)
    return path
