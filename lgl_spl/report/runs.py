"""Finding, reading and grouping run workdirs (what ``lgl_spl.train`` writes).

A workdir is any directory holding ``metrics.jsonl`` and ``config.json`` (and, from
newer runs, ``rounds.jsonl``: one row per round). Runs are grouped by *method label*
(``random``, ``spl``, ``lgl_d3``, ``spl (max_fraction=0.6)``, …) within a *setting*
(dataset and model; for the toy data also the layout) and a *condition* (label noise
and budget); seeds of one group are averaged by the table and the plots, and each
group is compared with the ``random`` group of its setting and condition.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

# The fixed order of the table rows and plot legends; unknown methods come last.
METHOD_ORDER = ("random", "spl", "spl_inv", "spld", "advise", "lgl")
LGL_ORDERS = ("random", "dissimilar", "similar")

# Config keys that differ between runs of one method without changing what is
# compared (seeds are averaged over; paths and logging cadence change nothing).
IGNORED_KEYS = frozenset(
    {
        "seed",
        "data.npz_path",
        "data.data_dir",
        "train.log_every",
        "train.checkpoint_every",
        "train.eval_every",
        "train.eval_batch_size",
        "train.num_devices",
        "data.num_workers",
        "data.prefetch",
        "data.chunk",
    }
)

# Keys that the condition (label noise, budget) or the label (the cap) already account
# for: they must not split or rename groups a second time.
CONDITION_KEYS = frozenset({"data.label_noise", "data.label_noise_type", "method.max_fraction"})

Log = Callable[[str], None]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass
class Run:
    """One workdir: its config, metrics rows, timing, run info and t-SNE snapshots."""

    path: str
    config: dict
    rows: list[dict]
    timing: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    snapshots: list[str] = field(default_factory=list)
    suffix: str = ""  # appended to the method label (``--label-suffix``)
    rounds: list[dict] = field(default_factory=list)  # rounds.jsonl (empty for older runs)

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def method(self) -> str:
        return str(self.config.get("method.name", "random"))

    @property
    def dataset(self) -> str:
        return str(self.config.get("data.name", self.info.get("dataset", "?")))

    @property
    def model(self) -> str:
        return str(self.config.get("model.name", "?"))

    @property
    def is_toy(self) -> bool:
        return self.dataset == "toy"

    @property
    def setting(self) -> str:
        """The model, and for the toy data also the layout (LGL Fig. 2's panels)."""
        if self.is_toy:
            return f"{self.model}/{self.config.get('data.toy_layout', 'separable')}"
        return self.model

    @property
    def label(self) -> str:
        return method_label(self.config) + self.suffix

    @property
    def label_noise(self) -> float:
        """Share of training labels flipped (``data.label_noise``; 0 when absent)."""
        return float(self.config.get("data.label_noise") or 0.0)

    @property
    def label_noise_type(self) -> str | None:
        """``data.label_noise_type``; None without noise (the type then changes nothing)."""
        kind = self.config.get("data.label_noise_type")
        return str(kind) if self.label_noise > 0 and kind is not None else None

    @property
    def max_fraction(self) -> float | None:
        """The cap on the selected fraction (``method.max_fraction``); None when uncapped."""
        cap = self.config.get("method.max_fraction")
        return float(cap) if cap is not None and float(cap) < 1.0 else None

    @property
    def budget(self) -> int:
        """The baseline's student updates this run is matched with: ``train.num_steps``,
        or for LGL the baseline length it stretches its schedule over
        (``method.schedule_steps``), so its ``paper`` budget still meets ``random``."""
        schedule = int(self.config.get("method.schedule_steps") or 0)
        return schedule if schedule > 0 else self.num_steps

    @property
    def condition(self) -> tuple[float, str, int]:
        """(label noise, noise type, budget): runs are only compared within one."""
        return (self.label_noise, self.label_noise_type or "", self.budget)

    @property
    def steps_per_round(self) -> int | None:
        """Student steps per round (one pass over the training data), from run_info.json."""
        value = self.info.get("steps_per_round")
        return int(value) if value else None

    @property
    def num_steps(self) -> int:
        return int(self.config.get("train.num_steps", 0))

    @property
    def batch_size(self) -> int:
        return int(self.config.get("train.batch_size", self.info.get("batch_size", 0)))

    @property
    def last_step(self) -> int:
        return int(self.rows[-1]["step"]) if self.rows else 0

    @property
    def updates(self) -> int:
        """The student updates the run takes: the step it finished at (run_info.json's
        ``final_step``; fewer than ``train.num_steps`` for a method of short rounds, e.g.
        dynamic pruning), else ``train.num_steps``."""
        final = self.info.get("final_step")
        return int(final) if final else self.num_steps

    @property
    def finished(self) -> bool:
        """The last metrics row reached the run's end (``final_step``, else
        ``train.num_steps``)."""
        return bool(self.rows) and self.last_step >= self.updates > 0

    @property
    def label_names(self) -> list[str]:
        names = self.info.get("label_names")
        n = int(self.info.get("num_classes", len(names) if names else 0))
        if names and len(names) >= n:
            return [str(x) for x in names]
        return [str(i) for i in range(n)]

    def class_name(self, i: int) -> str:
        names = self.label_names
        return names[i] if 0 <= i < len(names) else str(i)

    @property
    def steps(self) -> np.ndarray:
        return np.array([r["step"] for r in self.rows], dtype=np.int64)

    def column(self, key: str) -> np.ndarray:
        """``key`` of every row as floats; missing or null values are NaN."""
        values = [r.get(key) for r in self.rows]
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)

    @property
    def resumed(self) -> bool:
        """``wall_time`` restarts at each resume, so a drop between rows marks one."""
        wall = self.column("wall_time")
        return bool(np.any(np.diff(wall) < 0))

    @property
    def wall_time(self) -> float | None:
        """Seconds of the whole run: timing.json's total (its last process) plus the
        last logged ``wall_time`` of each earlier process (a lower bound if resumed)."""
        total = self.timing.get("total")
        if total is None:
            return None
        wall = self.column("wall_time")
        ends = np.flatnonzero(np.diff(wall) < 0)  # last row of each interrupted process
        return float(total) + float(np.nansum(wall[ends]))


def method_label(config: dict) -> str:
    """``random``, ``spl``, …; LGL adds its order's initial and stages: ``lgl_d3``."""
    name = str(config.get("method.name", "random"))
    if name == "lgl":
        order = str(config.get("method.order", "random"))
        return f"lgl_{order[:1]}{int(config.get('method.num_stages', 3))}"
    return name


def method_sort_key(label: str) -> tuple:
    """random, spl, spl_inv, spld, advise, lgl (orders r, d, s; fewer stages first), others.

    ``label`` is a bare :func:`method_label` (no suffix).
    """
    if label.startswith("lgl_") and len(label) > 4:
        initial, stages = label[4], label[5:]
        order = [o[0] for o in LGL_ORDERS]
        return (
            METHOD_ORDER.index("lgl"),
            order.index(initial) if initial in order else len(order),
            int(stages) if stages.isdigit() else 0,
            label,
        )
    rank = METHOD_ORDER.index(label) if label in METHOD_ORDER else len(METHOD_ORDER)
    return (rank, 0, 0, label)


# ---- reading ----------------------------------------------------------------------------------


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            value = json.load(f)
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def _read_jsonl(path: str, key: str, log: Log) -> list[dict]:
    """The JSON objects of ``path`` that have ``key``; [] when the file is missing."""
    rows = []
    try:
        f = open(path)
    except FileNotFoundError:
        return []
    with f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                # A run still writing may leave a half line at the end.
                log(f"{path}:{number}: skipped a malformed line")
    return [r for r in rows if isinstance(r, dict) and key in r]


def _read_rounds(path: str, log: Log) -> list[dict]:
    """rounds.jsonl in round order, one row per round (the last one if a round repeats)."""
    by_round = {}
    for row in _read_jsonl(path, "round", log):
        try:
            by_round[int(row["round"])] = row
        except (TypeError, ValueError):
            log(f"{path}: skipped a row with round {row['round']!r}")
    return [by_round[k] for k in sorted(by_round)]


def load_run(path: str, *, suffix: str = "", log: Log = _warn) -> Run:
    """Read one workdir.

    A method named by import path (``method.name = package.module:ATTR``) is reported by
    its own name, which the run wrote to run_info.json (``method``); the path is kept as
    ``method.path``.
    """
    snapshots = sorted(glob.glob(os.path.join(path, "embeddings", "step_*.npz")))
    config = _read_json(os.path.join(path, "config.json"))
    info = _read_json(os.path.join(path, "run_info.json"))
    name = str(config.get("method.name", ""))
    if ":" in name and info.get("method"):
        config["method.path"], config["method.name"] = name, str(info["method"])
    return Run(
        path=path,
        config=config,
        rows=_read_jsonl(os.path.join(path, "metrics.jsonl"), "step", log),
        timing=_read_json(os.path.join(path, "timing.json")),
        info=info,
        snapshots=[s for s in snapshots if not s.endswith(".tmp.npz")],
        suffix=suffix,
        rounds=_read_rounds(os.path.join(path, "rounds.jsonl"), log),
    )


def find_workdirs(root: str) -> list[str]:
    """Every directory below ``root`` (itself included) with metrics.jsonl and config.json."""
    found = []
    for directory, subdirs, files in os.walk(root):
        if "metrics.jsonl" in files and "config.json" in files:
            found.append(directory)
            subdirs[:] = []  # a workdir's checkpoints can be large trees; runs do not nest
            continue
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
    return sorted(found)


def load_runs(
    paths: Iterable[str],
    *,
    suffixes: Sequence[str] | None = None,
    include_unfinished: bool = False,
    log: Log = _warn,
) -> list[Run]:
    """Every run below ``paths``; unfinished runs are dropped with a warning unless
    ``include_unfinished`` (then they are kept and ``Run.finished`` is False).

    ``suffixes`` (one per path) is appended to the method labels of that path's runs,
    so two sweeps of the same methods can share one table.
    """
    paths = list(paths)
    suffixes = list(suffixes) if suffixes else [""] * len(paths)
    if len(suffixes) != len(paths):
        raise ValueError(f"{len(suffixes)} label suffixes for {len(paths)} run directories")
    runs, seen = [], set()
    for root, suffix in zip(paths, suffixes, strict=True):
        for workdir in find_workdirs(root):
            real = os.path.realpath(workdir)
            if real in seen:  # overlapping roots
                continue
            seen.add(real)
            run = load_run(workdir, suffix=suffix, log=log)
            if not run.rows:
                log(f"{workdir}: no evaluation rows yet; ignored")
                continue
            if not run.finished:
                state = f"step {run.last_step} of {run.num_steps}"
                if include_unfinished:
                    log(f"{workdir}: unfinished ({state}); included and flagged")
                else:
                    log(f"{workdir}: unfinished ({state}); ignored")
                    continue
            runs.append(run)
    return runs


# ---- grouping ---------------------------------------------------------------------------------


@dataclass
class Group:
    """The seeds of one method in one setting and condition."""

    dataset: str
    setting: str
    label: str
    runs: list[Run]
    # The parts of the condition that vary among the runs of this dataset and setting,
    # e.g. {"label_noise": 0.4}; empty when every run shares one condition.
    condition: dict = field(default_factory=dict)

    @property
    def suffix(self) -> str:
        return self.runs[0].suffix

    @property
    def method(self) -> str:
        return self.runs[0].method

    @property
    def is_toy(self) -> bool:
        return self.dataset == "toy"

    @property
    def context(self) -> tuple:
        """Groups with the same context are compared (and related to its ``random``):
        same dataset, setting, label suffix, label noise and budget."""
        return (self.dataset, self.setting, self.suffix, self.runs[0].condition)

    @property
    def panel(self) -> tuple:
        """Groups drawn in one panel of the figures (every suffix of one context)."""
        return (self.dataset, self.setting, self.runs[0].condition)

    @property
    def condition_label(self) -> str:
        """``label_noise=0.4, steps=600``; empty when the condition does not vary."""
        return condition_label(self.condition)

    @property
    def num_steps(self) -> int:
        return max(r.num_steps for r in self.runs)

    @property
    def updates(self) -> float:
        """The mean student updates of the group's runs (``Run.updates``)."""
        return float(np.mean([r.updates for r in self.runs]))


def condition_label(condition: dict) -> str:
    """``label_noise=0.4, label_noise_type=symmetric``; None parts (no noise type without
    noise) are left out."""
    return ", ".join(f"{k}={v}" for k, v in condition.items() if v is not None)


def _varying_condition(runs: Sequence[Run]) -> dict[tuple[str, str], list[str]]:
    """For each (dataset, setting): the condition parts that differ between its runs."""
    names = ("label_noise", "label_noise_type", "steps")
    seen: dict[tuple[str, str], set] = {}
    for run in runs:
        seen.setdefault((run.dataset, run.setting), set()).add(run.condition)
    return {
        key: [n for i, n in enumerate(names) if len({c[i] for c in conditions}) > 1]
        for key, conditions in seen.items()
    }


def _condition_of(run: Run, parts: Sequence[str]) -> dict:
    values = {
        "label_noise": run.label_noise,
        "label_noise_type": run.label_noise_type,
        "steps": run.budget,
    }
    return {n: values[n] for n in parts}


def _differing_keys(runs: list[Run]) -> list[str]:
    # Only keys every run has: a key the project added later (its default then in
    # force) does not split runs made before it existed.
    keys = set.intersection(*(set(r.config) for r in runs)) - IGNORED_KEYS - CONDITION_KEYS
    return sorted(
        k for k in keys if len({json.dumps(r.config.get(k), sort_keys=True) for r in runs}) > 1
    )


def group_runs(runs: Iterable[Run], *, log: Log = _warn) -> list[Group]:
    """Group by dataset, setting, condition and label, in a fixed order (per setting:
    conditions by label noise, then budget; random first in each).

    The condition is the label noise (``data.label_noise``, ``data.label_noise_type``)
    and the budget (:attr:`Run.budget`): a sweep over noise levels or run lengths gives
    one block per level, each with its own ``random``. A capped selection
    (``method.max_fraction`` < 1) is its own group: ``spl (max_fraction=0.6)``.
    Runs with one label but other differing configs (say learning rates side by side)
    are not averaged together: the label gets the differing keys, e.g.
    ``lgl_r3 (budget=paper, num_steps=900)``, or, when one configuration has most of
    the runs, only the keys where another differs from it (:func:`_usual_configs`).
    """
    runs = list(runs)
    varying = _varying_condition(runs)
    buckets: dict[tuple, list[Run]] = {}
    for run in runs:
        key = (run.dataset, run.setting, run.condition, run.label, run.max_fraction)
        buckets.setdefault(key, []).append(run)
    usual = _usual_configs(buckets)
    groups = []
    for (dataset, setting, _, label, cap), members in buckets.items():
        keys = _differing_keys(members)
        parts: dict[tuple, list[Run]] = {}
        for run in members:
            parts.setdefault(tuple(json.dumps(run.config.get(k)) for k in keys), []).append(run)
        common = usual.get((dataset, setting, label, cap), {})
        for values, part in parts.items():
            shown = [f"max_fraction={cap:g}"] if cap is not None else []
            shown += [
                f"{k.rsplit('.', 1)[-1]}={json.loads(v)}"
                for k, v in zip(keys, values, strict=True)
                if common.get(k) != v
            ]
            name = f"{label} ({', '.join(shown)})" if shown else label
            part.sort(key=lambda r: (r.seed, r.path))
            condition = _condition_of(part[0], varying[(dataset, setting)])
            seeds = [r.seed for r in part]
            if len(set(seeds)) < len(seeds):
                where = ", ".join(
                    [dataset, setting] + ([condition_label(condition)] * bool(condition))
                )
                log(f"{name} [{where}]: a seed appears more than once: {seeds}")
            groups.append(Group(dataset, setting, name, part, condition))
    groups.sort(
        key=lambda g: (
            g.dataset,
            g.setting,
            g.runs[0].condition,
            g.suffix,
            method_sort_key(method_label(g.runs[0].config)),
            _cap_order(g.runs[0].max_fraction),
            g.label,
        )
    )
    return groups


def _usual_configs(buckets: dict[tuple, list[Run]]) -> dict[tuple, dict[str, str]]:
    """Per (dataset, setting, label, cap): the values, of the keys that split some block
    of it, that strictly more of its runs share than any other (over every block). That
    configuration keeps the bare label (``rho_loss``); the others name only the keys
    where they differ from it (``rho_loss (il_data=halves)``), which keeps labels apart.
    Without a strict majority (two variants in equal numbers) every differing key is named.
    """
    by_label: dict[tuple, list[list[Run]]] = {}
    for (dataset, setting, _, label, cap), members in buckets.items():
        by_label.setdefault((dataset, setting, label, cap), []).append(members)
    usual = {}
    for name, blocks in by_label.items():
        keys = sorted({k for members in blocks for k in _differing_keys(members)})
        if not keys:
            continue
        counts: dict[tuple, int] = {}
        for run in (r for members in blocks for r in members):
            values = tuple(json.dumps(run.config.get(k)) for k in keys)
            counts[values] = counts.get(values, 0) + 1
        ranked = sorted(counts.values(), reverse=True)
        if len(ranked) == 1 or ranked[0] > ranked[1]:
            top = max(counts, key=counts.get)
            usual[name] = dict(zip(keys, top, strict=True))
    return usual


def _cap_order(cap: float | None) -> tuple[bool, float]:
    """The uncapped method first, then its capped variants by cap."""
    return (cap is not None, cap or 0.0)


def reference_group(group: Group, groups: Sequence[Group]) -> Group | None:
    """The ``random`` group of ``group``'s context (the baseline of the relative columns)."""
    for g in groups:
        if g.context == group.context and g.method == "random" and g.label == "random" + g.suffix:
            return g
    return None
