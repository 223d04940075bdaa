"""``runs.json``: what the figures of a report plot, kept beside its ``summary.json``.

A report's run directories hold checkpoints and are not committed; this file keeps, per
run, the config, the evaluation rows (only the metrics the report reads) and the
per-round records, so that ``python -m lgl_spl.report --from-summary`` can draw the
figures again without the runs. t-SNE snapshots are not kept (too large).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

from lgl_spl.report.runs import Run

# Metrics the tables and figures read; others (learning rate, per-phase counters) are
# left out to keep the file small.
ROW_KEYS = (
    "step",
    "test_accuracy",
    "val_accuracy",
    "train_loss",
    "full_train_loss",
    "test_loss",
    "extra_forward_passes",
    "wall_time",
    "embed_knn_accuracy",
    "pixel_knn_accuracy",
    "class_entropies",  # LGL's class similarity (lgl_similarity.md)
    "stage",
    "classes",
)
ROUND_KEYS = (
    "round",
    "step",
    "selected_fraction",
    "noisy_fraction",
    "noisy_selected_fraction",
    "selected_per_class",
    "classes",
    "selected_loss",
    "candidate_loss",
    "il_mean_loss",
    "time",
)
INFO_KEYS = ("dataset", "num_classes", "label_names", "steps_per_round", "batch_size")
FORMAT = 1


def _finite(value):
    """NaN and infinities (a diverged loss) as null: strict JSON, read back as missing."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _pick(row: dict, keys: Sequence[str]) -> dict:
    """``keys`` of ``row``, and every auxiliary learner's ``*_backward_passes`` (the accounting)."""
    return {k: _finite(v) for k, v in row.items() if k in keys or k.endswith("_backward_passes")}


def write_runs_json(runs: Sequence[Run], path: str, *, root: str | None = None) -> str:
    """Write the plotted data of ``runs`` to ``path``; paths relative to ``root``."""
    entries = []
    for run in runs:
        entries.append(
            {
                "path": os.path.relpath(run.path, root) if root else run.path,
                "suffix": run.suffix,
                "config": _finite(run.config),
                "info": _pick(run.info, INFO_KEYS),
                "timing": _finite(run.timing),
                "rows": [_pick(r, ROW_KEYS) for r in run.rows],
                "rounds": [_pick(r, ROUND_KEYS) for r in run.rounds],
            }
        )
    with open(path, "w") as f:
        json.dump({"format": FORMAT, "runs": entries}, f, separators=(",", ":"), allow_nan=False)
    return path


def read_report_json(path: str, key: str, kind: str) -> dict:
    """A report file's JSON object (``kind``: ``runs.json`` or ``summary.json``), which must
    hold a list under ``key``; ValueError (one line) otherwise."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise ValueError(f"cannot read {path!r}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path!r} is not JSON: {e.msg} (line {e.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValueError(f"{path!r} has no {key!r}: not a {kind} of lgl_spl.report")
    return data


def read_runs_json(path: str) -> list[Run]:
    """The runs of a ``runs.json`` (without t-SNE snapshots); ValueError when unreadable."""
    data = read_report_json(path, "runs", "runs.json")
    return [
        Run(
            path=e.get("path", "?"),
            config=e.get("config") or {},
            rows=e.get("rows") or [],
            timing=e.get("timing") or {},
            info=e.get("info") or {},
            suffix=e.get("suffix", ""),
            rounds=e.get("rounds") or [],
        )
        for e in data["runs"]
    ]
