"""The table's numbers against numpy, and its files."""

import csv
import json

import numpy as np
import pytest

from lgl_spl.report import group_runs, load_runs, markdown_table, summarize, write_table

# Final test accuracies per method and seed, and the validation curves of each seed.
FINAL = {"random": [0.80, 0.82, 0.85], "spld": [0.83, 0.86, 0.84], "lgl_d3": [0.90, 0.88]}
VAL = [0.6, 0.9, 0.7]  # best at the middle evaluation


def _rows(run_factory, include_unfinished=False):
    groups = group_runs(
        load_runs([run_factory.root], include_unfinished=include_unfinished, log=lambda m: None)
    )
    return {r.method: r for r in summarize(groups)}


@pytest.fixture
def sweep(run_factory):
    for method, finals in FINAL.items():
        for seed, final in enumerate(finals):
            accs = [0.3 + seed / 100, 0.5 + seed / 100, final]
            kwargs = {}
            name = method
            if method == "lgl_d3":
                name = "lgl"
                # The paper budget: twice random's updates, matched with random's 300.
                kwargs["config"] = {
                    "method.order": "dissimilar",
                    "method.num_stages": 3,
                    "method.schedule_steps": 300,
                }
                kwargs["num_steps"] = 600
            run_factory(
                f"{method}/seed_{seed}",
                method=name,
                seed=seed,
                accs=accs,
                val=VAL,
                extra=[0, 0, {"random": 0, "spld": 4800, "lgl_d3": 1920}[method] * (seed + 1)],
                timing_total={"random": 10.0, "spld": 25.0, "lgl_d3": 20.0}[method] + seed,
                **kwargs,
            )
    return run_factory


def test_mean_and_std_over_seeds(sweep):
    rows = _rows(sweep)
    assert list(rows) == ["random", "spld", "lgl_d3"]
    for method, finals in FINAL.items():
        row = rows[method]
        assert row.seeds == len(finals)
        assert row.final_test_accuracy_mean == pytest.approx(np.mean(finals))
        assert row.final_test_accuracy_std == pytest.approx(np.std(finals, ddof=1))
        # Best validation is the middle evaluation: test accuracy 0.5 + seed / 100.
        best = [0.5 + s / 100 for s in range(len(finals))]
        assert row.best_val_test_accuracy == pytest.approx(best)
        assert row.best_val_test_accuracy_mean == pytest.approx(np.mean(best))
        assert row.best_val_test_accuracy_std == pytest.approx(np.std(best, ddof=1))


def test_cost_relative_to_random(sweep):
    rows = _rows(sweep)
    random_training = 300 * 32  # random's num_steps × batch_size forward passes
    assert rows["random"].updates_vs_random == 1.0
    assert rows["lgl_d3"].updates_vs_random == 2.0
    assert rows["spld"].updates_vs_random == 1.0
    assert rows["random"].extra_forward_vs_random_training == 0.0
    spld_extra = np.mean([4800 * (s + 1) for s in range(3)])
    assert rows["spld"].extra_forward_vs_random_training == pytest.approx(
        spld_extra / random_training
    )
    lgl_extra = np.mean([1920, 3840])
    assert rows["lgl_d3"].extra_forward_vs_random_training == pytest.approx(
        lgl_extra / random_training
    )
    assert rows["spld"].wall_time_mean == pytest.approx(26.0)
    assert rows["spld"].wall_time_vs_random == pytest.approx(26.0 / 11.0)
    assert rows["spld"].timing_mean["student_training"] == pytest.approx(0.8 * 26.0)


def test_markdown_is_a_clean_github_table(sweep):
    rows = list(_rows(sweep).values())
    lines = markdown_table(rows).strip().splitlines()
    assert len(lines) == 2 + len(rows)
    widths = {line.count("|") for line in lines}
    assert widths == {8}  # 7 columns; no dataset/setting columns for one setting
    assert set(lines[1]) <= set("|-: ")
    spld = next(line for line in lines if line.startswith("| spld "))
    mean, std = 100 * np.mean(FINAL["spld"]), 100 * np.std(FINAL["spld"], ddof=1)
    assert f"{mean:.2f} ± {std:.2f}" in spld
    assert "| 3 |" in spld and "1.00×" in spld
    assert f"{np.mean([4800, 9600, 14400]) / 9600:.2f}×" in spld
    lgl = next(line for line in lines if line.startswith("| lgl_d3 "))
    assert "2.00×" in lgl


def test_no_validation_split_says_na(run_factory):
    run_factory("random/seed_0", accs=[0.5, 0.6])
    row = _rows(run_factory)["random"]
    assert row.best_val_test_accuracy_mean is None
    line = markdown_table([row]).splitlines()[2]
    # One seed: the mean alone; no val split: n/a.
    assert "| 60.00 | n/a |" in line


def test_missing_random_gives_na_ratios(run_factory):
    run_factory("spl/seed_0", method="spl")
    row = _rows(run_factory)["spl"]
    assert row.updates_vs_random is None and row.wall_time_vs_random is None
    assert markdown_table([row]).count("n/a") >= 3


def test_unfinished_runs_are_flagged_when_included(run_factory):
    run_factory("random/seed_0", accs=[0.5, 0.6, 0.7])
    run_factory("random/seed_1", seed=1, accs=[0.4, 0.5], last_step=200)
    assert _rows(run_factory)["random"].seeds == 1
    row = _rows(run_factory, include_unfinished=True)["random"]
    assert (row.seeds, row.unfinished) == (2, 1)
    assert row.final_test_accuracy_mean == pytest.approx(np.mean([0.7, 0.5]))
    assert "| 2 (1 unfinished) |" in markdown_table([row])


def test_resumed_run_wall_time_adds_earlier_processes(run_factory):
    # wall_time restarts at the resume after the second row; timing.json has the last process.
    run_factory("random/seed_0", wall=[5.0, 9.0, 3.0], timing_total=4.0)
    row = _rows(run_factory)["random"]
    assert row.wall_time_mean == pytest.approx(4.0 + 9.0)
    assert row.wall_time_lower_bound
    assert "†" in markdown_table([row])


def test_files(sweep, tmp_path):
    rows = list(_rows(sweep).values())
    out = tmp_path / "out"
    out.mkdir()
    paths = write_table(rows, str(out), title="Fashion-MNIST")
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["table.md", "table.csv", "summary.json"]
    md = (out / "table.md").read_text()
    assert md.startswith("# Fashion-MNIST: results")
    with open(out / "table.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["method"] for r in table] == ["random", "spld", "lgl_d3"]
    assert float(table[1]["final_test_accuracy_mean_pct"]) == pytest.approx(
        100 * np.mean(FINAL["spld"]), abs=1e-4
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"][2]["updates_vs_random"] == 2.0
    assert summary["rows"][0]["final_test_accuracy"] == FINAL["random"]
