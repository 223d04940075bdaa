"""Curves over student updates: test accuracy (SPL-ADVisE Fig. 3, LGL Fig. 3) and the toy
training loss (LGL Fig. 2); and over rounds: the selected fraction and the share of noisy
labels among the selected (``rounds.jsonl``).

matplotlib is imported inside the functions and used through ``Figure`` objects (Agg),
never through pyplot's global state, so importing the report stays cheap and a
notebook's backend is left alone.

Every figure draws a method in the same colour (:data:`METHOD_COLOURS`, fixed by the
method, not by its position in a figure); a capped pace (``max_fraction``) keeps its
method's colour with a dashed line, other variants of a method (a label suffix, differing
configs) a dash-dotted one. The legend sits outside the panels, to the right, so that no
data hides behind it; bands are light with an outline, so overlapping ones stay apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from lgl_spl.report.runs import Group, method_label

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


def _curve(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], band: str) -> Curve:
    """Mean over runs of ``ys[i]`` (at ``xs[i]``) at every x of any run; NaN is missing."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {BANDS}, got {band!r}")
    steps = np.unique(np.concatenate([np.asarray(x, np.int64) for x in xs] or [np.zeros(0)]))
    table = np.full((len(xs), steps.size), np.nan)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        table[i, np.searchsorted(steps, x)] = y
    count = np.isfinite(table).sum(0)
    keep = count > 0
    table, steps, count = table[:, keep], steps[keep], count[keep]
    if not steps.size:
        empty = np.zeros(0)
        return Curve(steps, empty, empty, empty, count)
    mean = np.nanmean(table, 0)
    if band == "minmax":
        low, high = np.nanmin(table, 0), np.nanmax(table, 0)
    else:
        std = np.array(
            [np.nanstd(c, ddof=1) if n > 1 else 0.0 for c, n in zip(table.T, count, strict=True)]
        )
        low, high = mean - std, mean + std
    return Curve(steps, mean, low, high, count)


def group_curve(group: Group, key: str, *, band: str = "minmax") -> Curve:
    """Mean of ``key`` over the group's runs at every logged step.

    Steps are the union over runs; a step where only some runs have a value
    (an unfinished run, or a missing value) averages over those.
    """
    return curve_of(group, lambda r: r.column(key), band=band)


def curve_of(group: Group, values, *, band: str = "minmax") -> Curve:
    """Mean over the group's runs of ``values(run)`` (one value per metrics row)."""
    return _curve([r.steps for r in group.runs], [values(r) for r in group.runs], band)


def round_curve(group: Group, key: str, *, band: str = "minmax") -> Curve:
    """Mean of ``key`` of ``rounds.jsonl`` over the group's runs, by round (``steps``
    holds the round numbers); empty when no run has it."""
    runs = [r for r in group.runs if r.rounds]
    xs = [np.array([row["round"] for row in r.rounds], np.int64) for r in runs]
    ys = [
        np.array([np.nan if row.get(key) is None else float(row[key]) for row in r.rounds])
        for r in runs
    ]
    return _curve(xs, ys, band)


# One colour per method in every figure: well apart in hue and lightness (no light/dark
# pairs of one hue), random in black as the reference everything is read against.
METHOD_COLOURS = {
    "random": "#000000",
    "spl": "#0072b2",  # blue
    "spl_inv": "#d55e00",  # vermilion
    "spld": "#009e73",  # bluish green
    "advise": "#cc79a7",  # reddish purple
    "lgl_r3": "#e69f00",  # orange
    "lgl_d3": "#56b4e9",  # sky blue
    "lgl_s3": "#8c564b",  # brown
    "lgl_r2": "#e69f00",  # the toy LGL (2 stages), as lgl_r3
}
# Methods outside the map, in order of first appearance.
SPARE_COLOURS = ("#7f7f7f", "#bcbd22", "#17becf", "#9467bd", "#f0e442", "#1f3a93")
# Hollow markers for the per-round figure, where methods sharing a pace (SPL and SPL_INV
# select the same fractions) draw the same line: both markers stay visible.
METHOD_MARKERS = {
    "random": "o",
    "spl": "s",
    "spl_inv": "v",
    "spld": "D",
    "advise": "^",
    "lgl_r3": "P",
    "lgl_d3": "X",
    "lgl_s3": "*",
    "lgl_r2": "P",
}
CAPPED_STYLE = "--"
# Other variants of one method (another setting, a --label-suffix), each its own style.
VARIANT_STYLES = ("-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
LEGEND_WIDTH = 2.4  # inches added to a figure for the legend at its right


@dataclass(frozen=True)
class Style:
    colour: str
    linestyle: str
    marker: str = "."


def method_style(group: Group, spare: dict[str, str] | None = None) -> Style:
    """The colour of the group's method and the line style of its variant: solid for the
    method itself, dashed when its pace is capped, dash-dotted for other variants
    (:func:`_styles` gives each further variant of a method the next of
    :data:`VARIANT_STYLES`). ``spare`` assigns colours to methods outside
    :data:`METHOD_COLOURS` (filled in place)."""
    base = method_label(group.runs[0].config)
    colour = METHOD_COLOURS.get(base)
    if colour is None:
        spare = {} if spare is None else spare
        if base not in spare:
            spare[base] = SPARE_COLOURS[len(spare) % len(SPARE_COLOURS)]
        colour = spare[base]
    marker = METHOD_MARKERS.get(base, ".")
    if group.runs[0].max_fraction is not None:
        return Style(colour, CAPPED_STYLE, marker)
    return Style(colour, "-" if group.label == base else VARIANT_STYLES[0], marker)


def _styles(groups: Sequence[Group]) -> dict[str, Style]:
    """One style per label; a method's variants (neither itself nor capped) take the
    variant styles in turn, so two of them in one figure never look alike."""
    spare: dict[str, str] = {}
    styles: dict[str, Style] = {}
    variants: dict[str, int] = {}
    for g in groups:
        if g.label in styles:
            continue
        style = method_style(g, spare)
        if style.linestyle == VARIANT_STYLES[0]:
            base = method_label(g.runs[0].config)
            turn = variants.get(base, 0)
            variants[base] = turn + 1
            style = replace(style, linestyle=VARIANT_STYLES[turn % len(VARIANT_STYLES)])
        styles[g.label] = style
    return styles


def _legend(fig, axes) -> None:
    """One legend for the figure, outside the panels at the right, each label once."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside right upper",
            fontsize=8,
            frameon=False,
        )


def _grid(n: int, width: float = 6.0, height: float = 4.2):
    from matplotlib.figure import Figure

    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols + LEGEND_WIDTH, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _panels(groups: Sequence[Group]) -> dict[tuple, list[Group]]:
    """One panel per dataset, setting and condition (label noise, budget)."""
    panels: dict[tuple, list[Group]] = {}
    for g in groups:
        panels.setdefault(g.panel, []).append(g)
    return panels


def _panel_title(members: Sequence[Group], many: bool) -> str:
    g = members[0]
    parts = [g.dataset, g.setting] if many else [g.setting]
    return " · ".join(parts + ([g.condition_label] if g.condition else []))


def _draw(
    ax, curve: Curve, label: str, style: Style, *, scale: float = 1.0, markers: bool = False
) -> None:
    marks = {"marker": style.marker, "ms": 5, "mfc": "none", "mew": 1.0} if markers else {}
    ax.plot(
        curve.steps,
        scale * curve.mean,
        label=label,
        color=style.colour,
        ls=style.linestyle,
        lw=1.6,
        **marks,
    )
    if (curve.count > 1).any():
        # A light fill with an outline in the line's style: where bands overlap, their
        # edges still show which band is whose.
        from matplotlib.colors import to_rgba

        ax.fill_between(
            curve.steps,
            scale * curve.low,
            scale * curve.high,
            facecolor=to_rgba(style.colour, 0.08),
            edgecolor=to_rgba(style.colour, 0.45),
            linestyle=style.linestyle,
            lw=0.6,
        )


def curves_figure(groups: Sequence[Group], *, title: str | None = None, band: str = "minmax"):
    """The figure of :func:`plot_curves`, or None when there is nothing to plot."""
    panels = _panels(groups)
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    styles = _styles(groups)
    many = len({(g.dataset, g.setting) for g in groups}) > 1
    for ax, members in zip(axes, panels.values(), strict=True):
        for g in members:
            _draw(
                ax, group_curve(g, "test_accuracy", band=band), g.label, styles[g.label], scale=100
            )
        ax.set_title(_panel_title(members, many), fontsize=10)
        ax.set_xlabel("student updates")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    heading = f"{title}: test accuracy" if title else "Test accuracy"
    fig.suptitle(f"{heading}\n(mean over seeds; {BAND_NOTE[band]})", fontsize=11)
    return fig


def plot_curves(
    groups: Sequence[Group], path: str, *, title: str | None = None, band: str = "minmax"
) -> str | None:
    """Test accuracy (%) against student updates, one line per method (mean over seeds)
    with a band, one panel per (dataset, setting, condition). Returns ``path``, or None
    when there is nothing to plot."""
    fig = curves_figure(groups, title=title, band=band)
    if fig is None:
        return None
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
    fig = toy_loss_figure(groups, title=title, band=band, key=key)
    if fig is None:
        return None
    fig.savefig(path, dpi=120)
    return path


def toy_loss_figure(
    groups: Sequence[Group], *, title: str | None = None, band: str = "minmax", key="train_loss"
):
    """The figure of :func:`plot_toy_loss`, or None without toy runs."""
    toy = [g for g in groups if g.is_toy]
    if not toy:
        return None
    panels = _panels(toy)
    fig, axes = _grid(len(panels), width=4.5, height=3.6)

    def shown(g: Group) -> str:
        return "baseline" + g.label[len("random") :] if g.method == "random" else g.label

    styles = _styles(toy)
    for ax, members in zip(axes, panels.values(), strict=True):
        for g in members:
            _draw(ax, group_curve(g, key, band=band), shown(g), styles[g.label])
        network, _, layout = members[0].setting.partition("/")
        extra = f", {members[0].condition_label}" if members[0].condition else ""
        ax.set_title(f"network {network}, layout {layout}{extra}", fontsize=10)
        ax.set_xlabel("student updates")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    heading = f"{title}: toy training loss" if title else "Toy data: training loss"
    fig.suptitle(f"{heading}\n(mean over seeds; {BAND_NOTE[band]})", fontsize=11)
    return fig


def rounds_figure(groups: Sequence[Group], *, title: str | None = None, band: str = "minmax"):
    """The figure of :func:`plot_rounds`, or None when no run has ``rounds.jsonl``."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    styles = _styles(groups)  # as in curves.png
    panels = {
        key: members
        for key, members in _panels(groups).items()
        if any(r.rounds for g in members for r in g.runs)
    }
    if not panels:
        return None
    noisy = {
        key: any(
            row.get("noisy_selected_fraction") is not None
            for g in members
            for r in g.runs
            for row in r.rounds
        )
        for key, members in panels.items()
    }
    cols = 2 if any(noisy.values()) else 1
    fig = Figure(figsize=(6.0 * cols + LEGEND_WIDTH, 4.2 * len(panels)), layout="constrained")
    grid = fig.add_gridspec(len(panels), cols)
    many = len({(g.dataset, g.setting) for g in groups}) > 1
    axes = []
    for i, (key, members) in enumerate(panels.items()):
        name = _panel_title(members, many)
        ax = fig.add_subplot(grid[i, 0])
        for g in members:
            curve = round_curve(g, "selected_fraction", band=band)
            if curve.steps.size:
                _draw(ax, curve, g.label, styles[g.label], markers=True)
        ax.set_title(f"{name}:\nselected fraction", fontsize=10)  # long conditions: 2 lines
        ax.set_xlabel("round")
        ax.set_ylabel("fraction of the training data")
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        axes.append(ax)
        if not noisy[key]:
            continue
        ax = fig.add_subplot(grid[i, 1])
        for g in members:
            curve = round_curve(g, "noisy_selected_fraction", band=band)
            if curve.steps.size:
                _draw(ax, curve, g.label, styles[g.label], markers=True)
        data = [
            row["noisy_fraction"]
            for g in members
            for r in g.runs
            for row in r.rounds
            if row.get("noisy_fraction") is not None
        ]
        if data:
            # Dotted grey: dashed lines are the capped paces.
            ax.axhline(float(np.mean(data)), color="0.4", ls=":", lw=1.6, label="in the data")
        ax.set_title(f"{name}:\nnoisy labels among the selected", fontsize=10)
        ax.set_xlabel("round")
        ax.set_ylabel("share of flipped labels")
        ax.set_ylim(0, 1.1 * ax.get_ylim()[1])  # room above the dotted line
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        axes.append(ax)
    _legend(fig, axes)
    heading = f"{title}: selection per round" if title else "Selection per round"
    fig.suptitle(f"{heading}\n(mean over seeds; {BAND_NOTE[band]})", fontsize=11)
    return fig


def plot_rounds(
    groups: Sequence[Group], path: str, *, title: str | None = None, band: str = "minmax"
) -> str | None:
    """``rounds.png``: per panel of curves.png, the selected fraction by round and, where
    runs have label noise, the share of flipped labels among the selected examples (dotted:
    their share in the data); one line per method (mean over seeds, shaded band).
    Returns ``path``, or None when no run has ``rounds.jsonl``."""
    fig = rounds_figure(groups, title=title, band=band)
    if fig is None:
        return None
    fig.savefig(path, dpi=120)
    return path
