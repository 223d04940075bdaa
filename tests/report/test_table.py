"""The table's numbers against numpy, and its files."""

import csv
import json
from dataclasses import asdict

import numpy as np
import pytest

from lgl_spl.report import (
    group_runs,
    load_runs,
    markdown_table,
    read_summary,
    rows_from_summary,
    summarize,
    write_table,
    write_trajectories,
)
from lgl_spl.report.trajectory_tables import peak_markdown
from tests.report.helpers import make_rounds

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
    assert widths == {14}  # 13 columns; no dataset/setting/condition columns for one setting
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
    # One seed: the mean alone; random is the reference; no val split: n/a.
    assert "| 60.00 | ref. | — | — | — | — | — | n/a |" in line


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


# ---- against random ---------------------------------------------------------------------------

PLANTED = {
    "random": [0.80, 0.81, 0.82],
    "spl": [0.90, 0.91, 0.92],  # clearly better: ▲
    "spld": [0.70, 0.71, 0.72],  # clearly worse: ▼
    "advise": [0.79, 0.83, 0.80],  # within noise: p large, ≈
    "spl_inv": [0.95],  # one seed: no test
}


@pytest.fixture
def planted(run_factory):
    for method, finals in PLANTED.items():
        for seed, final in enumerate(finals):
            run_factory(
                f"{method}/seed_{seed}",
                method=method,
                seed=seed,
                accs=[0.3, final - 0.01, final],
                val=[0.1, 0.3, 0.2],  # best-val is the middle evaluation
            )
    return run_factory


def test_welch_against_random_per_row(planted):
    rows = _rows(planted)
    assert rows["random"].reference == "random" and rows["random"].final_vs_random is None
    spl = rows["spl"].final_vs_random
    assert spl.delta == pytest.approx(0.10) and spl.p < 0.05 and spl.mark == "▲"
    assert spl.ci95[0] > 0 and spl.within_two_std is False
    # Best-val: each seed's middle evaluation, final − 0.01, so the same difference.
    best = rows["spl"].best_val_vs_random
    assert best.delta == pytest.approx(0.10) and best.mark == "▲"
    assert rows["spld"].final_vs_random.mark == "▼"
    advise = rows["advise"].final_vs_random
    assert advise.p > 0.5 and advise.mark == "" and advise.within_two_std is True
    one = rows["spl_inv"].final_vs_random
    assert one.p is None and one.ci95 is None and one.why_na == "fewer than 2 seeds"


def test_markdown_marks_wins_losses_and_too_close_rows(planted, tmp_path):
    rows = list(_rows(planted).values())
    lines = {line.split(" | ")[0][2:]: line for line in markdown_table(rows).splitlines()}
    assert "Δ vs random (pts) | 95 % CI (pts) | p |" in lines["method"]
    assert "| ref. | — | — |" in lines["random"]
    spl = lines["spl"]
    assert "91.00 ± 1.00 ▲ | +10.00 |" in spl
    c = _rows(planted)["spl"].final_vs_random
    assert f"| [{100 * c.ci95[0]:+.2f}, {100 * c.ci95[1]:+.2f}] |" in spl
    assert "▼" in lines["spld"] and "▲" not in lines["spld"]
    assert "▲" not in lines["advise"] and "▼" not in lines["advise"]
    assert "| +-0.33 ≈ |" not in lines["advise"] and "| -0.33 ≈ |" in lines["advise"]
    assert "| 95.00 | +14.00 | n/a | n/a |" in lines["spl_inv"]

    write_table(rows, str(tmp_path))
    md = (tmp_path / "table.md").read_text()
    assert "- ▲ / ▼: better / worse than `random` at Holm p < 0.05" in md
    assert "- ≈: |Δ| is less than twice the larger" in md
    with open(tmp_path / "table.csv") as f:
        table = {r["method"]: r for r in csv.DictReader(f)}
    assert float(table["spl"]["delta_vs_random_pts"]) == pytest.approx(10.0)
    assert float(table["spl"]["p_vs_random"]) < 0.05
    assert table["advise"]["within_two_std"] == "1" and table["spl"]["within_two_std"] == "0"
    assert table["spl_inv"]["p_vs_random"] == "" and table["random"]["delta_vs_random_pts"] == ""
    summary = json.loads((tmp_path / "summary.json").read_text())
    spl_json = next(r for r in summary["rows"] if r["method"] == "spl")
    assert set(spl_json["final_vs_random"]) >= {"delta", "ci95", "p", "df", "within_two_std"}
    assert spl_json["best_val_vs_random"]["p"] < 0.05


def test_each_noise_level_is_compared_with_its_own_random(run_factory, tmp_path):
    # Random loses 20 points at noise 0.4; the capped spl there is 10 points above *it*.
    finals = {
        (0.0, "random", None): [0.80, 0.82],
        (0.4, "random", None): [0.60, 0.62],
        (0.4, "spl", 0.6): [0.70, 0.72],
    }
    for (noise, method, cap), values in finals.items():
        for seed, final in enumerate(values):
            config = {"data.label_noise": noise}
            if cap:
                config["method.max_fraction"] = cap
            run_factory(
                f"{method}-{noise}/s{seed}",
                method=method,
                seed=seed,
                accs=[0.3, final],
                config=config,
            )
    groups = group_runs(load_runs([run_factory.root]))
    rows = summarize(groups)
    assert [(r.method, r.label_noise) for r in rows] == [
        ("random", 0.0),
        ("random", 0.4),
        ("spl (max_fraction=0.6)", 0.4),
    ]
    capped = rows[2]
    assert capped.max_fraction == 0.6 and capped.condition == {"label_noise": 0.4}
    assert capped.final_vs_random.delta == pytest.approx(0.10)  # not −0.10 against noise 0
    table = markdown_table(rows)
    assert table.splitlines()[0].startswith("| condition | method |")
    assert "| label_noise=0.4 | spl (max_fraction=0.6) |" in table
    assert "| label_noise=0.4 | random | 2 | 61.00 ± 1.41 | ref. |" in table


# ---- along the run ----------------------------------------------------------------------------


def test_peak_and_drop_show_memorisation(run_factory, tmp_path):
    # Evaluations at steps 100, 200, 300, 400; an epoch is 50 steps.
    info = {"steps_per_round": 50}
    run_factory("random/s0", accs=[0.5, 0.8, 0.7, 0.6], num_steps=400, info=info)
    run_factory("random/s1", seed=1, accs=[0.5, 0.7, 0.8, 0.6], num_steps=400, info=info)
    row = _rows(run_factory)["random"]
    # Mean curve 0.5, 0.75, 0.75, 0.6: the first of the tied peaks.
    assert row.peak.test_accuracy == pytest.approx(0.75)
    assert (row.peak.step, row.peak.epoch) == (200, 4.0)
    assert row.peak.drop == pytest.approx(0.15)
    assert row.peak.per_seed == [0.8, 0.8] and row.peak.per_seed_step == [200, 300]

    paths = write_trajectories([row], str(tmp_path))
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["peak.md", "accounting.md"]
    md = (tmp_path / "peak.md").read_text()
    assert "| random | 2 | 75.00 | 200 | 4.0 | 60.00 ± 0.00 | 15.00 |" in md


def test_peak_ignores_steps_that_only_some_seeds_reached(run_factory):
    run_factory("random/s0", accs=[0.5, 0.6, 0.9])
    run_factory("random/s1", seed=1, accs=[0.5, 0.7], last_step=200)  # unfinished
    row = _rows(run_factory, include_unfinished=True)["random"]
    # Step 300 has seed 0 alone (0.9): not comparable with the two-seed means.
    assert (row.peak.test_accuracy, row.peak.step) == (pytest.approx(0.65), 200)
    assert row.peak.per_seed == [0.9, 0.7]


def test_peak_without_steps_per_round_has_no_epoch(run_factory):
    run_factory("random/s0", accs=[0.5, 0.9, 0.7], info=False)
    row = _rows(run_factory)["random"]
    assert (row.peak.step, row.peak.epoch) == (200, None)
    assert "| 200 | n/a |" in peak_markdown([row])


def test_selection_precision_and_class_balance(run_factory, tmp_path):
    noise = {"data.label_noise": 0.4}
    # Random trains on everything: the data's share of flipped labels.
    for seed in (0, 1):
        run_factory(
            f"random/s{seed}",
            seed=seed,
            config=noise,
            rounds=make_rounds((1.0, 1.0), noisy_fraction=0.4),
        )
    # spl: 0.1 and 0.3 noisy in seed 0, 0.2 and 0.4 in seed 1 → mean 0.25, precision 0.75.
    # Class counts: round 0 has one class at twice the others' count.
    per_class = [[20] + [10] * 9, [10] * 10]
    for seed, noisy in enumerate([(0.1, 0.3), (0.2, 0.4)]):
        run_factory(
            f"spl/s{seed}",
            method="spl",
            seed=seed,
            config=noise,
            rounds=make_rounds(
                (0.5, 0.7), noisy_fraction=0.4, noisy_selected=noisy, per_class=per_class
            ),
        )
    # LGL: the balance is over the stage's classes (0-4 then all), not over all ten.
    lgl_counts = [[10] * 5 + [0] * 5, [10] * 10]
    run_factory(
        "lgl/s0",
        method="lgl",
        config=noise,
        rounds=make_rounds(
            (0.5, 1.0),
            per_class=lgl_counts,
            classes=[range(5), range(10)],
            noisy_fraction=0.4,
        ),
    )
    rows = _rows(run_factory)
    spl = rows["spl"].rounds
    assert spl.runs == 2 and spl.rounds == 2
    assert spl.selected_fraction == pytest.approx(0.6)
    assert spl.noisy_fraction == pytest.approx(0.4)
    assert spl.noisy_selected_fraction == pytest.approx(0.25)
    assert spl.selection_precision == pytest.approx(0.75)
    # Round 0: shares 20/110 and 10/110 × 10 classes = 1.818, 0.909; round 1: 1, 1.
    assert spl.class_share_max == pytest.approx((200 / 110 + 1) / 2)
    assert spl.class_share_min == pytest.approx((100 / 110 + 1) / 2)
    assert spl.time == {"scoring": 1.0, "selection": 0.2, "training": 4.0}
    assert rows["random"].rounds.selection_precision == pytest.approx(0.6)
    lgl = rows["lgl_r3"].rounds
    assert (lgl.class_share_min, lgl.class_share_max) == (1.0, 1.0)

    paths = write_trajectories(list(rows.values()), str(tmp_path))
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["peak.md", "accounting.md", "selection.md"]
    md = (tmp_path / "selection.md").read_text()
    assert "| spl | 2 | 2 | 0.600 | 0.400 | 0.250 | 0.750 | 0.955 | 1.409 |" in md
    summary_row = json.loads(json.dumps(asdict(rows["spl"])))
    assert summary_row["rounds"]["selection_precision"] == pytest.approx(0.75)


def test_online_selection_losses_last_round_and_irreducible_loss(run_factory, tmp_path):
    # rho_loss: the warm-up round logs no losses; the report takes the last round's, not the mean.
    for seed, (sel, cand, il) in enumerate([(0.2, 1.0, 2.5), (0.4, 1.4, 2.7)]):
        rounds = make_rounds((1.0, 0.1, 0.1))
        rounds[0].update(selected_loss=None, candidate_loss=None, il_mean_loss=il)
        rounds[1].update(selected_loss=1.9, candidate_loss=2.0, il_mean_loss=il)
        rounds[2].update(selected_loss=sel, candidate_loss=cand, il_mean_loss=il)
        run_factory(f"rho_loss/s{seed}", method="rho_loss", seed=seed, rounds=rounds)
    easy = make_rounds((1.0, 0.1))
    easy[1].update(selected_loss=0.001, candidate_loss=18994.26)
    run_factory("online_easy/s0", method="online_easy", rounds=easy)
    run_factory("random/s0", rounds=make_rounds((1.0, 1.0)))
    rows = _rows(run_factory)
    rho = rows["rho_loss"].rounds
    assert (rho.selected_loss, rho.candidate_loss) == pytest.approx((0.3, 1.2))
    assert rho.il_mean_loss == pytest.approx(2.6)
    assert rows["online_easy"].rounds.il_mean_loss is None
    assert rows["random"].rounds.selected_loss is None
    write_trajectories(list(rows.values()), str(tmp_path))
    md = (tmp_path / "selection.md").read_text()
    assert "| selected loss | candidate loss | irreducible loss |" in md
    assert "| 0.300 | 1.200 | 2.600 |" in md
    assert "| 0.001 | 18994 | n/a |" in md  # the collapsed student's candidates
    assert "| n/a | n/a | n/a |" in md  # random selects nothing online
    # The summary keeps them, so a report rendered again from it has the columns too.
    write_table(list(rows.values()), str(tmp_path))
    again = rows_from_summary(read_summary(str(tmp_path / "summary.json")))
    rho_again = again[[r.method for r in again].index("rho_loss")].rounds
    assert rho_again.il_mean_loss == pytest.approx(2.6)


def test_no_rounds_means_no_round_stats(run_factory):
    run_factory("random/s0")
    assert _rows(run_factory)["random"].rounds is None


def test_embedding_knn_first_last_and_pixels(run_factory, tmp_path):
    for seed, (first, last) in enumerate([(0.50, 0.80), (0.60, 0.90)]):
        run_factory(
            f"advise/s{seed}",
            method="advise",
            seed=seed,
            row_extra=[
                {},  # the first evaluation has no k-NN yet
                {"embed_knn_accuracy": first, "pixel_knn_accuracy": 0.40},
                {"embed_knn_accuracy": last, "pixel_knn_accuracy": 0.40},
            ],
        )
    run_factory("random/s0")
    rows = _rows(run_factory)
    assert rows["random"].embedding_knn is None
    k = rows["advise"].embedding_knn
    assert k.seeds == 2
    assert (k.first_mean, k.last_mean, k.pixel_mean) == pytest.approx((0.55, 0.85, 0.40))
    assert k.first_std == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert (k.first_step, k.last_step) == (200, 300)
    paths = write_trajectories(list(rows.values()), str(tmp_path))
    assert paths[-1].endswith("embedding.md")
    md = (tmp_path / "embedding.md").read_text()
    assert "| advise | 2 | 55.00 ± 7.07 | 200 | 85.00 ± 7.07 | 300 | 40.00 ± 0.00 |" in md
    assert "random" not in md.split("|---", 1)[1]
