"""``python -m lgl_spl.report`` end to end, through ``main([...])``."""

import csv
import json
import shutil

import numpy as np
import pytest

from lgl_spl.report import main
from tests.report.helpers import make_rounds, write_run, write_snapshots
from tests.report.test_similarity import _rows as lgl_rows


def make_sweep(root):
    """Fashion-MNIST: random, spld, advise (t-SNE snapshots), lgl_d3 × 2 seeds, one
    unfinished spl; toy: random, spl, lgl × 2 seeds."""
    for seed in (0, 1):
        write_run(root / "random" / f"seed_{seed}", seed=seed, accs=[0.5, 0.7, 0.8 + seed / 50])
        write_run(root / "spld" / f"seed_{seed}", method="spld", seed=seed, extra=[0, 0, 960])
        advise = write_run(root / "advise" / f"seed_{seed}", method="advise", seed=seed)
        if seed == 0:
            write_snapshots(advise, steps=(0, 100, 200, 300), n=24)
        write_run(
            root / "lgl_d3" / f"seed_{seed}",
            method="lgl",
            seed=seed,
            accs=[0.3, 0.5, 0.6, 0.8],
            config={"method.order": "dissimilar"},
            row_extra=lgl_rows(),
        )
        for method in ("random", "spl", "lgl"):
            write_run(
                root / "toy" / method / f"seed_{seed}",
                method=method,
                seed=seed,
                dataset="toy",
                model="mlp1",
                train_loss=[1.0, 0.6, 0.3],
            )
    write_run(root / "spl" / "seed_0", method="spl", last_step=200)  # unfinished
    return root


@pytest.fixture
def sweep(tmp_path):
    return make_sweep(tmp_path / "runs")


def test_end_to_end(sweep, tmp_path, capsys):
    out = tmp_path / "report"
    code = main([str(sweep), "--out", str(out), "--title", "Fashion-MNIST", "--tsne-iters", "250"])
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert names == {
        "table.md",
        "table.csv",
        "summary.json",
        "findings.md",
        "runs.json",
        "peak.md",
        "accounting.md",
        "curves.png",
        "tsne.png",
        "lgl_similarity.md",
        "toy_loss.png",
    }
    for png in ("curves.png", "tsne.png", "toy_loss.png"):
        assert (out / png).stat().st_size > 1000
    captured = capsys.readouterr()
    assert "unfinished (step 200 of 300); ignored" in captured.err
    assert "t-SNE of" in captured.out and "wrote table.md" in captured.out

    with open(out / "table.csv") as f:
        rows = list(csv.DictReader(f))
    fm = [r["method"] for r in rows if r["dataset"] == "fashion_mnist"]
    assert fm == ["random", "spld", "advise", "lgl_d3"]  # the unfinished spl is left out
    toy = [r["method"] for r in rows if r["dataset"] == "toy"]
    assert toy == ["random", "spl", "lgl_r3"]
    random = rows[fm.index("random")]
    assert float(random["final_test_accuracy_mean_pct"]) == pytest.approx(
        100 * np.mean([0.8, 0.82]), abs=1e-4
    )
    spld = rows[fm.index("spld")]
    assert float(spld["extra_forward_vs_random_training"]) == pytest.approx(960 / (300 * 32))
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["rows"]) == len(rows)
    md = (out / "table.md").read_text()
    assert "| dataset | setting | method |" in md  # two settings: the columns say which
    assert "Ankle boot" in (out / "lgl_similarity.md").read_text()


def test_notes_when_there_is_nothing_to_plot(tmp_path, capsys):
    write_run(tmp_path / "runs" / "random" / "seed_0")
    out = tmp_path / "report"
    assert main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {
        "table.md",
        "table.csv",
        "summary.json",
        "findings.md",
        "runs.json",
        "peak.md",
        "accounting.md",
        "curves.png",
    }
    text = capsys.readouterr().out
    assert "rounds.png skipped" in text and "selection.md skipped" in text
    assert "embedding.md skipped" in text
    assert "tsne.png skipped" in text
    assert "lgl_similarity.md skipped" in text
    assert "toy_loss.png skipped" in text


def test_include_unfinished_and_label_suffixes(tmp_path):
    write_run(tmp_path / "a" / "random" / "seed_0")
    write_run(tmp_path / "b" / "random" / "seed_0", last_step=100)
    out = tmp_path / "report"
    argv = [str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--include-unfinished"]
    assert main(argv + ["--label-suffix", "@a", "@b"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["method"], r["unfinished"]) for r in summary["rows"]] == [
        ("random@a", 0),
        ("random@b", 1),
    ]


def test_bad_input_exits_with_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: run directory")
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    assert "no finished runs" in capsys.readouterr().err
    two = [str(tmp_path / "empty"), str(tmp_path / "empty")]
    assert main(two + ["--out", str(tmp_path / "o"), "--label-suffix", "a", "b", "c"]) == 2


def test_noise_sweep_end_to_end(tmp_path, capsys):
    """Two noise levels × random, spl, capped spl, advise (k-NN) × 3 seeds, with rounds."""
    root = tmp_path / "runs"
    finals = {"random": 0.80, "spl": 0.70, "spl06": 0.80, "advise": 0.79}
    for noise in (0.0, 0.4):
        for seed in range(3):
            for name, final in finals.items():
                method = "spl" if name.startswith("spl") else name
                config = {"data.label_noise": noise}
                if name == "spl06":
                    config["method.max_fraction"] = 0.6
                # Noise costs random 20 points; the capped spl keeps its accuracy.
                final = final - (0.2 if noise and name != "spl06" else 0.0) + seed / 100
                noisy = {"noisy_fraction": noise} if noise else {}
                knn = None
                if method == "advise":
                    knn = [{}, {"embed_knn_accuracy": 0.5}, {"embed_knn_accuracy": 0.7}]
                    knn = [dict(r, pixel_knn_accuracy=0.45) if r else r for r in knn]
                write_run(
                    root / f"{name}-{noise}" / f"seed_{seed}",
                    method=method,
                    seed=seed,
                    accs=[0.5, final + 0.05, final],  # a peak before the end
                    config=config,
                    info={"steps_per_round": 50},
                    rounds=make_rounds(**noisy),
                    row_extra=knn,
                )
    out = tmp_path / "report"
    assert main([str(root), "--out", str(out), "--title", "Noise"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"peak.md", "selection.md", "embedding.md", "rounds.png"} <= names
    assert (out / "rounds.png").stat().st_size > 1000

    with open(out / "table.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["label_noise"], r["method"]) for r in rows] == [
        ("0", "random"),
        ("0", "spl"),
        ("0", "spl (max_fraction=0.6)"),
        ("0", "advise"),
        ("0.4", "random"),
        ("0.4", "spl"),
        ("0.4", "spl (max_fraction=0.6)"),
        ("0.4", "advise"),
    ]
    capped = rows[6]
    assert float(capped["delta_vs_random_pts"]) == pytest.approx(20.0)  # against noise 0.4
    assert float(capped["p_vs_random"]) < 0.05
    md = (out / "table.md").read_text()
    assert "| label_noise=0.4 | spl (max_fraction=0.6) | 3 | 81.00 ± 1.00 ▲ | +20.00 |" in md
    assert "| label_noise=0.0 | spl | 3 | 71.00 ± 1.00 ▼ | -10.00 |" in md
    assert "| label_noise=0.0 | advise | 3 | 80.00 ± 1.00 | -1.00 ≈ |" in md
    summary = json.loads((out / "summary.json").read_text())
    peak = summary["rows"][0]["peak"]
    assert peak["step"] == 200 and peak["epoch"] == 4.0
    assert peak["drop"] == pytest.approx(0.05)
    assert summary["rows"][5]["rounds"]["noisy_fraction"] == pytest.approx(0.4)
    assert summary["rows"][3]["embedding_knn"]["last_mean"] == pytest.approx(0.7)
    assert "label_noise=0.4 · spl (max_fraction=0.6): seeds 0, 1, 2" in capsys.readouterr().out


def test_from_summary_renders_the_same_report_again(tmp_path, capsys):
    """A report rendered again from its summary.json (and runs.json) alone, without the
    runs, gives the same tables and findings and redraws the figures."""
    test_noise_sweep_end_to_end(tmp_path, capsys)
    out = tmp_path / "report"
    shutil.rmtree(tmp_path / "runs")
    again = tmp_path / "again"
    rule = "3 seeds (0, 1, 2) for every block, declared before the runs"
    assert main(["--from-summary", str(out / "summary.json"), "--out", str(again)]) == 0
    names = ("table.md", "table.csv", "peak.md", "accounting.md", "selection.md", "embedding.md")
    for name in names:
        assert (again / name).read_text() == (out / name).read_text(), name
    assert (again / "findings.md").read_text() == (out / "findings.md").read_text()
    for png in ("curves.png", "rounds.png"):
        assert (again / png).stat().st_size > 1000
    assert "tsne.png left as it is" in capsys.readouterr().out
    # The seed rule given now is kept in the summary for the next rendering.
    assert (
        main(
            [
                "--from-summary",
                str(again / "summary.json"),
                "--out",
                str(again),
                "--seed-rule",
                rule,
            ]
        )
        == 0
    )
    assert main(["--from-summary", str(again / "summary.json"), "--out", str(again)]) == 0
    assert json.loads((again / "summary.json").read_text())["seed_rule"] == rule
    assert f"Seed rule: {rule}." in (again / "table.md").read_text()
    assert rule in (again / "findings.md").read_text()


def test_from_summary_of_an_old_report_without_runs_json(tmp_path, capsys):
    """A summary written before the tests against random existed (no reference, no
    condition): the comparisons are computed from its per-seed values."""
    rows = []
    for method, finals in (("random", [0.80, 0.81, 0.82]), ("spl", [0.70, 0.71, 0.72])):
        rows.append(
            {
                "dataset": "cifar10",
                "setting": "lenet",
                "method": method,
                "seeds": 3,
                "unfinished": 0,
                "num_steps": 300,
                "batch_size": 32,
                "final_test_accuracy": finals,
                "final_test_accuracy_mean": float(np.mean(finals)),
                "final_test_accuracy_std": float(np.std(finals, ddof=1)),
                "best_val_test_accuracy": [],
                "best_val_test_accuracy_mean": None,
                "best_val_test_accuracy_std": None,
                "extra_forward_passes_mean": 0.0,
                "wall_time_mean": 10.0,
                "wall_time_lower_bound": False,
                "timing_mean": {"total": 10.0},
                "updates_vs_random": 1.0,
                "extra_forward_vs_random_training": 0.0,
                "wall_time_vs_random": 1.0,
            }
        )
    path = tmp_path / "old" / "summary.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"title": "Old", "rows": rows}))
    out = tmp_path / "new"
    assert main(["--from-summary", str(path), "--out", str(out)]) == 0
    assert "figures left as they are" in capsys.readouterr().out
    md = (out / "table.md").read_text()
    # One comparison: Holm leaves Welch's p as it is; 3 seeds a side: rank p ≥ 0.1.
    assert (
        "| spl | 3 | 71.00 ± 1.00 ▼ | -10.00 | [-12.27, -7.73] | <0.001 | <0.001 | <0.001 "
        "| 0.100 ≠ |" in md
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"][1]["reference"] == "random"
    assert summary["rows"][1]["final_vs_random"]["p_rank"] == pytest.approx(0.1)
    findings = (out / "findings.md").read_text()
    assert "1 comparisons with `random`; 1 at Welch p < 0.05" in findings


def test_from_summary_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "summary.json"
    bad.write_text("{not json")
    assert main(["--from-summary", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot render") and "\n" not in err
    bad.write_text(json.dumps({"rows": [{"method": "random"}]}))
    assert main(["--from-summary", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "missing field" in capsys.readouterr().err
    assert main(["--from-summary", str(bad), str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert main(["--out", str(tmp_path / "o")]) == 2


def test_runs_json_keeps_a_diverged_run_as_missing_values(tmp_path):
    write_run(tmp_path / "runs" / "random" / "seed_0", train_loss=[1.0, float("nan"), 0.5])
    out = tmp_path / "report"
    assert main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    text = (out / "runs.json").read_text()
    assert "NaN" not in text
    (run,) = json.loads(text)["runs"]
    assert [r["train_loss"] for r in run["rows"]] == [1.0, None, 0.5]
