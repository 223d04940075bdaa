"""Fair accounting against ``random``: how soon a method reaches ``random``'s accuracy, and
what ``random`` reaches with the method's compute.

*Reach* (RHO-LOSS's headline measure, "steps to reach the baseline's accuracy"): per seed,
the first evaluation whose test accuracy is at least the target (``random``'s mean final
test accuracy of the same block, or the peak of ``random``'s mean test curve), its student
step and its wall time. Over seeds: the median with a miss counted as never (so the median
is "never" once half the seeds miss), the mean over the seeds that reach it, and the number
that never do: a miss is never averaged away.

*Compute* is counted in forward-pass equivalents: a student update costs
``TRAIN_STEP_FORWARDS`` per example of the batch (one forward, a backward counted as two
forwards), every pass in ``extra_forward_passes`` (scoring, candidates, auxiliary
learners) one, and every backward pass an auxiliary learner logs as
``<learner>_backward_passes`` (the irreducible-loss model's ``il_backward_passes``) two; a
learner that logs no backward passes (SPL-ADVisE's embedding net) counts its forwards only,
a lower bound. *Equal compute*: ``random``'s mean test
accuracy, interpolated linearly along its curve against its cumulative compute, at the
method's total compute (beyond ``random``'s whole run: no value, said so); and the other
way round, the method's test accuracy at ``random``'s total compute, per seed along the
method's own curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from lgl_spl.report.plots import curve_of, group_curve
from lgl_spl.report.runs import Group, Run

# A backward pass counted as two forwards (the usual estimate; the project defines no other
# ratio): one update costs 3 forward passes per example of its batch.
BACKWARD_FORWARDS = 2
TRAIN_STEP_FORWARDS = 1 + BACKWARD_FORWARDS
CONVENTION = (
    "compute in forward-pass equivalents: each student update costs "
    f"{TRAIN_STEP_FORWARDS} × batch_size (a backward counted as {BACKWARD_FORWARDS} forwards), "
    f"each pass in extra_forward_passes 1, in an auxiliary learner's <learner>_backward_passes "
    f"{BACKWARD_FORWARDS}"
)
BACKWARD_SUFFIX = "_backward_passes"  # an auxiliary learner's backward passes, e.g. il_

# equal_compute states
OK = "ok"
BEYOND = "beyond random's run"
BEFORE = "before random's first evaluation"


@dataclass
class Reach:
    """The evaluations at which each seed first reaches ``target`` (a test accuracy)."""

    target: float  # fraction
    seeds: int
    reached: int  # seeds that reach it at some evaluation
    steps: list[int | None]  # per seed, in seed order; None: never
    wall_time: list[float | None]  # seconds from the run's start (summed over resumes)
    steps_median: float | None  # misses counted as never; None: half or more never reach
    steps_mean: float | None  # over the seeds that reach it; None when none does
    wall_time_median: float | None
    wall_time_mean: float | None

    @property
    def never(self) -> int:
        return self.seeds - self.reached


@dataclass
class Accounting:
    """A group's reach of ``random``'s final and peak accuracy and its equal-compute view."""

    to_final: Reach | None  # target: random's mean final test accuracy; None without random
    to_peak: Reach | None  # target: the peak of random's mean test curve
    compute: float  # total compute, mean over seeds (forward-pass equivalents)
    compute_vs_random: float | None  # over random's mean total compute
    # random's mean test accuracy at this group's total compute; None unless status is OK
    random_at_equal_compute: float | None
    equal_compute_status: str | None  # OK, BEYOND, BEFORE; None without random
    # this group's test accuracy at random's total compute, per seed (None: its run is
    # shorter in compute, or that point is before its first evaluation), and their mean
    at_random_compute: list[float | None] = field(default_factory=list)
    at_random_compute_mean: float | None = None

    @classmethod
    def from_dict(cls, value: dict | None) -> Accounting | None:
        """Back from ``summary.json`` (None stays None: summaries from before the field)."""
        if not value:
            return None

        def reach(v):
            return Reach(**{k: v[k] for k in Reach.__dataclass_fields__}) if v else None

        kept = {k: value[k] for k in cls.__dataclass_fields__ if k in value}
        kept["to_final"] = reach(value.get("to_final"))
        kept["to_peak"] = reach(value.get("to_peak"))
        return cls(**kept)

    def to_dict(self) -> dict:
        return asdict(self)


# ---- along one run ----------------------------------------------------------------------------


def cumulative_wall(run: Run) -> np.ndarray:
    """Each row's ``wall_time`` from the run's start: ``wall_time`` restarts at a resume,
    so the last logged time of every earlier process is added (a lower bound then)."""
    wall = run.column("wall_time")
    offset = np.zeros_like(wall)
    ends = np.flatnonzero(np.diff(wall) < 0)  # last row of each interrupted process
    for end in ends:
        offset[end + 1 :] += np.nan_to_num(wall[end])
    return wall + offset


def backward_passes(run: Run) -> np.ndarray:
    """Cumulative backward passes of the run's auxiliary learners at each row (the sum of
    every ``<learner>_backward_passes`` its rows log; zeros when none does)."""
    keys = sorted({k for row in run.rows for k in row if k.endswith(BACKWARD_SUFFIX)})
    total = np.zeros(len(run.rows))
    for key in keys:
        total += np.nan_to_num(run.column(key))
    return total


def run_compute(run: Run) -> np.ndarray:
    """Cumulative compute at each row (forward-pass equivalents; see the module)."""
    extra = np.nan_to_num(run.column("extra_forward_passes"))
    extra += BACKWARD_FORWARDS * backward_passes(run)
    return TRAIN_STEP_FORWARDS * run.batch_size * run.steps.astype(np.float64) + extra


def first_reach(run: Run, target: float) -> tuple[int | None, float | None]:
    """Step and wall time of the first row with ``test_accuracy`` ≥ ``target``."""
    acc = run.column("test_accuracy")
    hits = np.flatnonzero(np.isfinite(acc) & (acc >= target))
    if not hits.size:
        return None, None
    i = int(hits[0])
    wall = cumulative_wall(run)[i]
    return int(run.steps[i]), float(wall) if np.isfinite(wall) else None


def _median_never(values: Sequence[float | None]) -> float | None:
    if not values:
        return None
    m = float(np.median([np.inf if v is None else float(v) for v in values]))
    return m if np.isfinite(m) else None


def _mean_reached(values: Sequence[float | None]) -> float | None:
    got = [float(v) for v in values if v is not None]
    return float(np.mean(got)) if got else None


def reach(runs: Sequence[Run], target: float) -> Reach:
    """:class:`Reach` of ``target`` over ``runs``."""
    hits = [first_reach(r, target) for r in runs]
    steps = [s for s, _ in hits]
    walls = [w for _, w in hits]
    # A seed that reaches the target without a logged wall time is left out of the wall
    # time's median and mean (it is not a miss).
    walls_for_median = [w for s, w in hits if s is None or w is not None]
    return Reach(
        target=float(target),
        seeds=len(runs),
        reached=sum(s is not None for s in steps),
        steps=steps,
        wall_time=walls,
        steps_median=_median_never(steps),
        steps_mean=_mean_reached(steps),
        wall_time_median=_median_never(walls_for_median),
        wall_time_mean=_mean_reached(walls),
    )


def _interp(x: float, xs: np.ndarray, ys: np.ndarray) -> tuple[float | None, str]:
    """``ys`` at ``x`` along the points (xs increasing), linearly; with the status."""
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if not xs.size:
        return None, BEFORE
    if x > xs[-1] * (1 + 1e-12):
        return None, BEYOND
    if x < xs[0] * (1 - 1e-12):
        return None, BEFORE
    return float(np.interp(x, xs, ys)), OK


def _compute_curve(group: Group) -> tuple[np.ndarray, np.ndarray]:
    """The group's mean test curve against its mean cumulative compute (steps where every
    seed has a value)."""
    acc = group_curve(group, "test_accuracy")
    full = acc.count == len(group.runs)
    steps = acc.steps[full].astype(np.float64)
    compute = TRAIN_STEP_FORWARDS * group.runs[0].batch_size * steps
    for extra, weight in (
        (group_curve(group, "extra_forward_passes"), 1),
        (curve_of(group, backward_passes), BACKWARD_FORWARDS),
    ):
        mean = np.nan_to_num(extra.mean)
        if extra.steps.size:
            compute = compute + weight * np.interp(steps, extra.steps, mean)
    return compute, acc.mean[full]


def total_compute(run: Run) -> float:
    compute = run_compute(run)
    return float(compute[-1]) if compute.size else 0.0


def accounting(group: Group, ref: Group | None, *, ref_final: float | None, ref_peak: float | None):
    """:class:`Accounting` of ``group`` against ``random``'s group ``ref`` (its mean final
    test accuracy ``ref_final`` and mean-curve peak ``ref_peak``)."""
    compute = float(np.mean([total_compute(r) for r in group.runs]))
    if ref is None:
        return Accounting(None, None, compute, None, None, None)
    ref_compute = float(np.mean([total_compute(r) for r in ref.runs]))
    xs, ys = _compute_curve(ref)
    at_equal, status = _interp(compute, xs, ys)
    mine = []
    for run in group.runs:
        value, _ = _interp(ref_compute, run_compute(run), run.column("test_accuracy"))
        mine.append(value)
    return Accounting(
        to_final=reach(group.runs, ref_final) if ref_final is not None else None,
        to_peak=reach(group.runs, ref_peak) if ref_peak is not None else None,
        compute=compute,
        compute_vs_random=compute / ref_compute if ref_compute > 0 else None,
        random_at_equal_compute=at_equal,
        equal_compute_status=status,
        at_random_compute=mine,
        at_random_compute_mean=_mean_reached(mine) if all(v is not None for v in mine) else None,
    )
