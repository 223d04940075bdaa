"""The tables along a run, each a GitHub table declared as columns: ``peak.md`` (peak
test accuracy and the drop after it), ``accounting.md`` (reaching ``random``'s accuracy;
equal compute), ``selection.md`` (from ``rounds.jsonl``) and ``embedding.md`` (the
embedding's k-NN accuracy), written where runs have the data."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from lgl_spl.report.accounting import (
    BACKWARD_FORWARDS,
    BEFORE,
    BEYOND,
    TRAIN_STEP_FORWARDS,
    Accounting,
    Reach,
)
from lgl_spl.report.cells import (
    METHOD,
    SEEDS,
    Column,
    final_cell,
    format_accuracy,
    format_points,
    format_ratio,
    github_table,
    heading,
    setting_line,
    write_text,
)
from lgl_spl.report.rows import Row

PEAK_NOTES = (
    "- *peak*: the highest mean test accuracy over seeds at any evaluation, and the student "
    "step (epoch: step / steps per round) of that evaluation.",
    "- *drop*: peak minus the mean final test accuracy, in percentage points. A large drop "
    "is the student memorising what it should not (with label noise: the flipped labels).",
)


PEAK_COLUMNS: list[Column] = [
    METHOD,
    SEEDS,
    ("peak test acc. (%)", lambda r: f"{100 * r.peak.test_accuracy:.2f}"),
    ("at step", lambda r: str(r.peak.step)),
    ("at epoch", lambda r: "n/a" if r.peak.epoch is None else f"{r.peak.epoch:.1f}"),
    ("final test acc. (%)", final_cell),
    ("drop (pts)", lambda r: f"{100 * r.peak.drop:.2f}"),
]


def peak_markdown(rows: Sequence[Row]) -> str:
    return github_table([r for r in rows if r.peak is not None], PEAK_COLUMNS)


ACCOUNTING_NOTES = (
    "- *random's final / peak*: the targets, `random`'s mean final test accuracy in the same "
    "block and the peak of its mean test curve (the peak's row in `peak.md`).",
    "- *steps / wall time to …*: per seed, the student step and the wall time (from the "
    "run's start; summed over resumes, a lower bound then) of the first evaluation whose "
    "test accuracy reaches the target, so at the resolution of `train.eval_every`. The cell"
    " is the median over seeds with a seed that never reaches it counted as never (*never* "
    "once half the seeds miss), then the mean over the seeds that reach it and how many "
    "never do: a miss is never averaged away. `random` is measured against its own mean as "
    "well.",
    "- *compute*: forward-pass equivalents per run, mean over seeds: each student update "
    f"costs {TRAIN_STEP_FORWARDS} × `batch_size` (one forward, a backward counted as "
    f"{BACKWARD_FORWARDS} forwards; the project "
    "defines no other ratio, and on the CPU LeNet a training step measures about 2.4 "
    "forwards, `docs/benchmarks.md`), each pass in `extra_forward_passes` (scoring, "
    "candidates, auxiliary learners' forwards) one, each backward pass an auxiliary learner "
    "logs (`<learner>_backward_passes`: the irreducible-loss model's `il_backward_passes`) "
    f"{BACKWARD_FORWARDS}; relative to `random`'s. A learner that logs no backward passes "
    "(SPL-ADVisE's embedding net) counts its forwards only: a lower bound.",
    "- *random at equal compute*: `random`'s mean test accuracy at the method's total "
    "compute, linear between its evaluations against its cumulative compute, and the "
    "method's final minus it (Δ, points); *beyond random's run*: the method used more "
    "compute than `random`'s whole run. *at random's compute*: the other way round, the "
    "method's test accuracy at `random`'s total compute along its own curve (mean over "
    "seeds; n/a where a seed's run used less compute, its final then stands).",
    "- —: not recorded (a report rendered from a summary written before this table existed) "
    "or no `random` in the block.",
)


def _reach_cell(x: Reach | None, *, wall: bool = False) -> str:
    """``300 (mean 320; 1 of 3 never)``; ``never (…)`` once half the seeds miss."""
    if x is None:
        return "—"

    def fmt(v: float) -> str:
        return f"{v:.1f} s" if wall else f"{v:.0f}"

    median = x.wall_time_median if wall else x.steps_median
    mean = x.wall_time_mean if wall else x.steps_mean
    parts = []
    if mean is not None and x.seeds > 1:
        parts.append(f"mean {fmt(mean)}")
    if x.never:
        parts.append(f"{x.never} of {x.seeds} never")
    head = "never" if median is None else fmt(median)
    if wall and x.reached and all(w is None for w in x.wall_time):
        head = "n/a"  # runs without a logged wall_time
    return head + (f" ({'; '.join(parts)})" if parts else "")


def _equal_compute_cell(r: Row) -> str:
    a = r.accounting
    if a is None or a.equal_compute_status is None:
        return "—"
    if a.equal_compute_status == BEYOND:
        return "beyond random's run"
    if a.equal_compute_status == BEFORE:
        return "before random's first evaluation"
    delta = r.final_test_accuracy_mean - a.random_at_equal_compute
    return f"{100 * a.random_at_equal_compute:.2f} (Δ {format_points(delta)})"


def _accounted(cell: Callable[[Accounting], str]) -> Callable[[Row], str]:
    """A cell of the row's accounting; — where it has none (a report rendered from a
    summary written before accounting.md existed, or no ``random`` in the block)."""

    def get(r: Row) -> str:
        a = r.accounting
        return "—" if a is None or a.to_final is None else cell(a)

    return get


def _targets(a: Accounting) -> str:
    text = f"{100 * a.to_final.target:.2f}"
    return text + (f" / {100 * a.to_peak.target:.2f}" if a.to_peak is not None else "")


def _at_random_compute(a: Accounting) -> str:
    mine = a.at_random_compute_mean
    return "n/a" if mine is None else f"{100 * mine:.2f}"


ACCOUNTING_COLUMNS: list[Column] = [
    METHOD,
    SEEDS,
    ("final test acc. (%)", final_cell),
    ("random's final / peak (%)", _accounted(_targets)),
    ("steps to random's final", _accounted(lambda a: _reach_cell(a.to_final))),
    ("wall time to random's final", _accounted(lambda a: _reach_cell(a.to_final, wall=True))),
    ("steps to random's peak", _accounted(lambda a: _reach_cell(a.to_peak))),
    ("wall time to random's peak", _accounted(lambda a: _reach_cell(a.to_peak, wall=True))),
    ("compute (× random)", _accounted(lambda a: format_ratio(a.compute_vs_random))),
    (
        "random at equal compute (%)",
        lambda r: _accounted(lambda a: _equal_compute_cell(r))(r),
    ),
    ("at random's compute (%)", _accounted(_at_random_compute)),
]


def accounting_markdown(rows: Sequence[Row]) -> str:
    return github_table(rows, ACCOUNTING_COLUMNS)


SELECTION_NOTES = (
    "- From `rounds.jsonl`: per run the mean over rounds, then the mean over seeds.",
    "- *selected*: fraction of the training data each round trains on.",
    "- *noisy in data / selected*: share of flipped labels in the training data and among "
    "the examples selected; *precision*: 1 − the latter (clean share of the selection).",
    "- *class share min / max*: the least and most selected class's share of the selected "
    "set relative to uniform (1.00 = every class equally; LGL: over its stage's classes).",
    "- *selected / candidate loss*: online selection's mean loss (eval mode, by the network "
    "that scores: the student, or its proxy with `scorer=proxy`) of the examples trained on "
    "and of all the step's candidates, in the last round that logged them (the warm-up logs "
    "none); *irreducible loss*: the irreducible-loss model's mean loss on the "
    "training set (RHO-LOSS; ln 10 ≈ 2.30 is a uniform guess over 10 classes). n/a: not "
    "logged by the method, or a report from runs before these were kept.",
)


def _fraction(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _loss(x: float | None) -> str:  # a collapsed student's candidates reach losses in the thousands
    return "n/a" if x is None else f"{x:.3f}" if abs(x) < 100 else f"{x:.0f}"


def _rounds(name: str, cell: Callable, key: str) -> Column:
    return (name, lambda r: cell(getattr(r.rounds, key)))


def selection_markdown(rows: Sequence[Row]) -> str:
    """The noise and loss columns only where some row logged them."""
    rows = [r for r in rows if r.rounds is not None]

    def logged(key: str) -> bool:
        return any(getattr(r.rounds, key) is not None for r in rows)

    columns: list[Column] = [
        METHOD,
        ("runs", lambda r: str(r.rounds.runs)),
        ("rounds", lambda r: f"{r.rounds.rounds:.0f}"),
        _rounds("selected", _fraction, "selected_fraction"),
    ]
    if logged("noisy_selected_fraction"):
        columns += [
            _rounds("noisy in data", _fraction, "noisy_fraction"),
            _rounds("noisy selected", _fraction, "noisy_selected_fraction"),
            _rounds("precision", _fraction, "selection_precision"),
        ]
    columns += [
        _rounds("class share min", _fraction, "class_share_min"),
        _rounds("class share max", _fraction, "class_share_max"),
    ]
    if logged("selected_loss"):
        columns += [
            _rounds("selected loss", _loss, "selected_loss"),
            _rounds("candidate loss", _loss, "candidate_loss"),
        ]
    if logged("il_mean_loss"):
        columns.append(_rounds("irreducible loss", _loss, "il_mean_loss"))
    return github_table(rows, columns)


EMBEDDING_NOTES = (
    "- k-NN accuracy of the embedding net on held-out examples, at the first and last "
    "evaluation that logged it (mean ± std over seeds; the step is the mean over seeds).",
    "- *pixels*: k-NN on the raw pixels of the same examples: what the embedding must beat.",
)


EMBEDDING_COLUMNS: list[Column] = [
    METHOD,
    ("seeds", lambda r: str(r.embedding_knn.seeds)),
    (
        "first k-NN acc. (%)",
        lambda r: format_accuracy(r.embedding_knn.first_mean, r.embedding_knn.first_std),
    ),
    ("at step", lambda r: f"{r.embedding_knn.first_step:.0f}"),
    (
        "last k-NN acc. (%)",
        lambda r: format_accuracy(r.embedding_knn.last_mean, r.embedding_knn.last_std),
    ),
    ("at step", lambda r: f"{r.embedding_knn.last_step:.0f}"),
    (
        "pixels k-NN acc. (%)",
        lambda r: format_accuracy(r.embedding_knn.pixel_mean, r.embedding_knn.pixel_std),
    ),
]


def embedding_markdown(rows: Sequence[Row]) -> str:
    return github_table([r for r in rows if r.embedding_knn is not None], EMBEDDING_COLUMNS)


# Each file: (name, its title, whether the rows have its data, its table, its notes).
FILES = (
    ("peak.md", "peak test accuracy", lambda r: r.peak is not None, peak_markdown, PEAK_NOTES),
    (
        "accounting.md",
        "reaching random's accuracy, and equal compute",
        lambda r: r.accounting is not None and r.accounting.to_final is not None,
        accounting_markdown,
        ACCOUNTING_NOTES,
    ),
    (
        "selection.md",
        "selection per round",
        lambda r: r.rounds is not None,
        selection_markdown,
        SELECTION_NOTES,
    ),
    (
        "embedding.md",
        "embedding k-NN accuracy",
        lambda r: r.embedding_knn is not None,
        embedding_markdown,
        EMBEDDING_NOTES,
    ),
)


def write_trajectories(rows: Sequence[Row], out_dir: str, *, title: str | None = None) -> list[str]:
    """Write each of :data:`FILES` some row has the data for into ``out_dir``; the paths."""
    written = []
    for name, what, has, table, notes in FILES:
        if any(has(r) for r in rows):
            text = heading(title, what) + setting_line(rows) + table(rows)
            path = os.path.join(out_dir, name)
            written.append(write_text(path, text + "\n" + "\n".join(notes) + "\n"))
    return written
