"""Fair accounting: steps and wall time to reach random's accuracy, and equal compute,
against values computed by hand from synthetic runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lgl_spl.report import accounting as acc
from lgl_spl.report.cli import main
from lgl_spl.report.findings import findings_markdown
from lgl_spl.report.rows import summarize
from lgl_spl.report.runs import Run, group_runs, load_runs
from lgl_spl.report.summary import read_summary, rows_from_summary
from lgl_spl.report.trajectory_tables import accounting_markdown, write_trajectories

# Evaluations at steps 100, 200, 300, 400 (batch 32; helpers' wall_time = step / 10).
# random's mean curve: 0.5, 0.65, 0.855, 0.80: final mean 0.80, peak 0.855 at step 300.
RANDOM = {0: [0.5, 0.7, 0.9, 0.78], 1: [0.5, 0.6, 0.81, 0.82]}
# online_hard: seed 2 collapses and never reaches either target; seed 1 was resumed
# after its second evaluation (wall_time restarts): cumulative 10, 20, 25, 35 s.
HARD = {0: [0.81, 0.9, 0.9, 0.9], 1: [0.5, 0.82, 0.86, 0.88], 2: [0.1, 0.1, 0.1, 0.1]}
HARD_EXTRA = [3200, 6400, 9600, 12800]  # 32 candidate forwards a step, cumulative


def _sweep(run_factory):
    for seed, accs in RANDOM.items():
        run_factory(f"random/s{seed}", seed=seed, accs=accs, num_steps=400)
    for seed, accs in HARD.items():
        wall = [10.0, 20.0, 5.0, 15.0] if seed == 1 else None
        run_factory(
            f"hard/s{seed}",
            method="online_hard",
            seed=seed,
            accs=accs,
            num_steps=400,
            extra=HARD_EXTRA,
            wall=wall,
        )


def _rows(run_factory):
    groups = group_runs(load_runs([run_factory.root], log=lambda m: None), log=lambda m: None)
    return {r.method: r for r in summarize(groups)}


def test_steps_and_wall_time_to_reach_random(run_factory):
    _sweep(run_factory)
    rows = _rows(run_factory)
    hard = rows["online_hard"].accounting
    final, peak = hard.to_final, hard.to_peak
    assert final.target == pytest.approx(0.80) and peak.target == pytest.approx(0.855)
    # Final (0.80): seeds reach it at steps 100, 200, never.
    assert final.steps == [100, 200, None]
    assert (final.seeds, final.reached, final.never) == (3, 2, 1)
    assert final.steps_median == 200  # median of 100, 200, ∞
    assert final.steps_mean == 150  # over the two that reach it; the miss is not averaged
    assert final.wall_time == [10.0, 20.0, None]
    assert (final.wall_time_median, final.wall_time_mean) == (20.0, 15.0)
    # Peak (0.855): steps 200 (0.9), 300 (0.86), never; seed 1's 300 is 25 s after the
    # resume.
    assert peak.steps == [200, 300, None]
    assert (peak.steps_median, peak.steps_mean) == (300, 250)
    assert peak.wall_time == [20.0, 25.0, None]
    assert (peak.wall_time_median, peak.wall_time_mean) == (25.0, 22.5)

    # random against its own mean: both seeds at 300; its peak only seed 0 (0.9): with
    # one of two seeds missing, the median is never.
    ref = rows["random"].accounting
    assert ref.to_final.steps == [300, 300] and ref.to_final.steps_median == 300
    assert ref.to_peak.steps == [300, None]
    assert ref.to_peak.steps_median is None and ref.to_peak.steps_mean == 300
    assert ref.to_peak.never == 1


def test_equal_compute_beyond_random_and_at_randoms_compute(run_factory):
    _sweep(run_factory)
    rows = _rows(run_factory)
    hard, ref = rows["online_hard"].accounting, rows["random"].accounting
    # random: 3 × 32 × 400 = 38,400 forward equivalents; online_hard 12,800 more.
    assert ref.compute == 38400 and hard.compute == 51200
    assert hard.compute_vs_random == pytest.approx(4 / 3)
    assert hard.equal_compute_status == acc.BEYOND and hard.random_at_equal_compute is None
    # online_hard's compute at step 300 is 28,800 + 9,600 = 38,400: random's total.
    assert hard.at_random_compute == pytest.approx([0.9, 0.86, 0.1])
    assert hard.at_random_compute_mean == pytest.approx(0.62)
    # random at its own compute is its own final.
    assert ref.equal_compute_status == acc.OK
    assert ref.random_at_equal_compute == pytest.approx(0.80)


def test_equal_compute_interpolates_along_randoms_curve(run_factory):
    for seed, accs in RANDOM.items():
        run_factory(f"random/s{seed}", seed=seed, accs=accs, num_steps=400)
    # Half the batch: 3 × 16 × 400 + 4,800 = 24,000, between random's evaluations at
    # 19,200 (step 200, 0.65) and 28,800 (step 300, 0.855): 0.65 + 0.5 × 0.205 = 0.7525.
    for seed, final in enumerate([0.78, 0.80]):
        run_factory(
            f"small/s{seed}",
            method="spl",
            seed=seed,
            accs=[0.5, 0.6, 0.7, final],
            num_steps=400,
            batch_size=16,
            extra=[1200, 2400, 3600, 4800],
        )
    # One example a step: 3 × 400 = 1,200 < 9,600, random's first evaluation.
    run_factory("tiny/s0", method="spld", accs=[0.2, 0.3, 0.4, 0.5], num_steps=400, batch_size=1)
    rows = _rows(run_factory)
    small = rows["spl"].accounting
    assert small.compute == 24000 and small.compute_vs_random == pytest.approx(0.625)
    assert small.equal_compute_status == acc.OK
    assert small.random_at_equal_compute == pytest.approx(0.7525)
    # Its runs end before random's total compute: no value at it, per seed.
    assert small.at_random_compute == [None, None] and small.at_random_compute_mean is None
    tiny = rows["spld"].accounting
    assert tiny.equal_compute_status == acc.BEFORE and tiny.random_at_equal_compute is None

    md = accounting_markdown(list(rows.values()))
    assert "| 0.62× | 75.25 (Δ +3.75) | n/a |" in md
    assert "| before random's first evaluation | n/a |" in md
    text = findings_markdown(list(rows.values()))
    assert "Its compute is 0.62× `random`'s; with as much, `random` reaches 75.25 %" in text
    assert "(Δ +3.75 pts)" in text


def test_accounting_table_and_findings(run_factory, tmp_path):
    _sweep(run_factory)
    rows = list(_rows(run_factory).values())
    paths = write_trajectories(rows, str(tmp_path))
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["peak.md", "accounting.md"]
    md = (tmp_path / "accounting.md").read_text()
    assert (
        "| 80.00 / 85.50 | 200 (mean 150; 1 of 3 never) | 20.0 s (mean 15.0 s; 1 of 3 never) "
        "| 300 (mean 250; 1 of 3 never) | 25.0 s (mean 22.5 s; 1 of 3 never) | 1.33× "
        "| beyond random's run | 62.00 |"
    ) in md
    assert "| random | 2 | 80.00 ± 2.83 | 80.00 / 85.50 | 300 (mean 300) |" in md
    assert "| never (mean 300; 1 of 2 never) | never (mean 30.0 s; 1 of 2 never) |" in md
    assert "costs 3 × `batch_size` (one forward, a backward counted as 2 forwards" in md
    text = findings_markdown(rows)
    assert (
        "It reaches `random`'s final mean (80.00 %) at step 200 (median over seeds; mean 150 "
        "over the 2 that reach it), after 20.0 s (median); 1 of 3 seeds never do"
    ) in text
    assert "Its compute is 1.33× `random`'s, beyond `random`'s whole run" in text
    assert "at `random`'s total compute it has 62.00 %" in text
    assert "reaches `random`'s peak (85.50 %) in only 1 of its 2 seeds (mean step 300)" in text


def test_a_method_that_never_reaches(run_factory):
    for seed, accs in RANDOM.items():
        run_factory(f"random/s{seed}", seed=seed, accs=accs, num_steps=400)
    for seed in (0, 1):
        run_factory(f"easy/s{seed}", method="online_easy", seed=seed, accs=[0.1] * 4, num_steps=400)
    rows = _rows(run_factory)
    x = rows["online_easy"].accounting.to_final
    assert x.steps == [None, None] and x.reached == 0 and x.never == 2
    assert x.steps_median is None and x.steps_mean is None and x.wall_time_mean is None
    md = accounting_markdown(list(rows.values()))
    assert "| never (2 of 2 never) | never (2 of 2 never) |" in md
    assert "never reaches `random`'s final mean (80.00 %) in any of its 2 seeds" in (
        findings_markdown(list(rows.values()))
    )


def test_first_reach_skips_missing_accuracies_and_sums_resumed_wall_time():
    rows = [
        {"step": 10, "test_accuracy": None, "wall_time": 4.0},
        {"step": 20, "test_accuracy": 0.9, "wall_time": 8.0},  # then killed and resumed
        {"step": 30, "test_accuracy": 0.95, "wall_time": 3.0},
        {"step": 40, "test_accuracy": 0.99, "wall_time": 6.0},
    ]
    run = Run(path="x", config={"train.batch_size": 4}, rows=rows)
    np.testing.assert_allclose(acc.cumulative_wall(run), [4.0, 8.0, 11.0, 14.0])
    assert acc.first_reach(run, 0.5) == (20, 8.0)
    assert acc.first_reach(run, 0.95) == (30, 11.0)
    assert acc.first_reach(run, 1.0) == (None, None)
    np.testing.assert_allclose(acc.run_compute(run), [120, 240, 360, 480])


def test_summary_round_trip_and_older_summaries(run_factory, tmp_path, capsys):
    _sweep(run_factory)
    out = tmp_path / "report"
    assert main([run_factory.root, "--out", str(out)]) == 0
    summary = read_summary(str(out / "summary.json"))
    hard = next(r for r in summary["rows"] if r["method"] == "online_hard")
    assert hard["accounting"]["to_final"]["steps"] == [100, 200, None]
    again = rows_from_summary(summary)
    assert again[1].accounting == _rows(run_factory)["online_hard"].accounting
    with open(out / "table.csv") as f:
        header, *lines = [line.rstrip("\n").split(",") for line in f]
    csv_hard = dict(zip(header, lines[1], strict=True))
    assert csv_hard["to_random_final_steps_median"] == "200"
    assert csv_hard["to_random_final_never"] == "1"
    assert csv_hard["equal_compute_status"] == "beyond random's run"

    # A summary written before the accounting existed renders as before: no accounting.md,
    # no sentences; one row without it in a newer summary shows —.
    old = json.loads((out / "summary.json").read_text())
    for r in old["rows"]:
        del r["accounting"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text(json.dumps(old))
    assert (
        main(
            [
                "--from-summary",
                str(tmp_path / "old" / "summary.json"),
                "--out",
                str(tmp_path / "old"),
            ]
        )
        == 0
    )
    assert not (tmp_path / "old" / "accounting.md").exists()
    assert "reaches `random`" not in (tmp_path / "old" / "findings.md").read_text()
    assert "accounting.md skipped" in capsys.readouterr().out
    mixed = json.loads((out / "summary.json").read_text())
    del mixed["rows"][1]["accounting"]
    md = accounting_markdown(rows_from_summary(mixed))
    assert "| online_hard | 3 | 62.67 ± 45.62 | — | — | — | — | — | — | — | — |" in md


def test_auxiliary_backward_passes_count_twice(run_factory):
    """Where a run's auxiliary learner logs its backward passes (``il_backward_passes``),
    each counts as two forwards."""
    for seed, accs in RANDOM.items():
        run_factory(f"random/s{seed}", seed=seed, accs=accs, num_steps=400)
    # 9,600 (the update at step 100, batch 8) + 2,400 forwards + 2 × 1,200 backwards =
    # 14,400 at the end; random is at 9,600 (step 100, 0.5) and 19,200 (step 200, 0.65).
    backward = [{"il_backward_passes": 1200}] * 4
    run_factory(
        "rho/s0",
        method="rho_loss",
        accs=[0.6, 0.7, 0.8, 0.9],
        num_steps=400,
        batch_size=8,
        extra=[2400] * 4,
        row_extra=backward,
    )
    rows = _rows(run_factory)
    rho = rows["rho_loss"].accounting
    assert rho.compute == 3 * 8 * 400 + 2400 + 2 * 1200 == 14400
    np.testing.assert_allclose(
        acc.run_compute(load_runs([run_factory.root + "/rho"], log=lambda m: None)[0]),
        [3 * 8 * s + 4800 for s in (100, 200, 300, 400)],
    )
    # 14,400 is halfway between 9,600 and 19,200: 0.5 + 0.5 × 0.15.
    assert rho.random_at_equal_compute == pytest.approx(0.575)
