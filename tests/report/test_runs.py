"""Finding, reading and grouping runs."""

import ast
import pathlib

from lgl_spl.report import find_workdirs, group_runs, load_runs, method_label
from lgl_spl.report.runs import reference_group


def test_finds_workdirs_recursively_and_skips_other_dirs(run_factory, tmp_path):
    a = run_factory("sweep/random/seed_0")
    b = run_factory("sweep/spl/lr-0.1/seed_1", method="spl")
    (tmp_path / "runs" / "sweep" / "notes").mkdir()
    (tmp_path / "runs" / "sweep" / "notes" / "metrics.jsonl").write_text("")  # no config.json
    assert find_workdirs(run_factory.root) == sorted([a, b])


def test_method_labels():
    assert method_label({"method.name": "spld"}) == "spld"
    lgl = {"method.name": "lgl", "method.order": "dissimilar", "method.num_stages": 3}
    assert method_label(lgl) == "lgl_d3"
    assert method_label({**lgl, "method.order": "similar", "method.num_stages": 4}) == "lgl_s4"
    assert method_label({"method.name": "lgl"}) == "lgl_r3"  # the sampler's defaults


def test_groups_lgl_orders_separately_in_a_fixed_order(run_factory):
    for seed in (0, 1):
        for order in ("similar", "dissimilar", "random"):
            run_factory(
                f"lgl_{order}/seed_{seed}",
                method="lgl",
                seed=seed,
                config={"method.order": order, "method.num_stages": 3},
            )
        run_factory(
            f"lgl_r2/seed_{seed}",
            method="lgl",
            seed=seed,
            config={"method.num_stages": 2, "method.order": "random"},
        )
        for method in ("advise", "spl_inv", "random", "spld", "spl"):
            run_factory(f"{method}/seed_{seed}", method=method, seed=seed)
    groups = group_runs(load_runs([run_factory.root]))
    labels = [g.label for g in groups]
    assert labels == [
        "random",
        "spl",
        "spl_inv",
        "spld",
        "advise",
        "lgl_r2",
        "lgl_r3",
        "lgl_d3",
        "lgl_s3",
    ]
    assert all([r.seed for r in g.runs] == [0, 1] for g in groups)
    orders = {
        g.label: {r.config["method.order"] for r in g.runs} for g in groups if "lgl" in g.label
    }
    assert orders["lgl_d3"] == {"dissimilar"} and orders["lgl_s3"] == {"similar"}


def test_toy_runs_are_grouped_by_model_and_layout(run_factory):
    for model in ("mlp1", "mlp3"):
        for layout in ("separable", "overlapping"):
            for seed in (0, 1):
                run_factory(
                    f"toy_random/{model}-{layout}/seed_{seed}",
                    dataset="toy",
                    model=model,
                    seed=seed,
                    config={"data.toy_layout": layout},
                )
    groups = group_runs(load_runs([run_factory.root]))
    assert sorted(g.setting for g in groups) == [
        "mlp1/overlapping",
        "mlp1/separable",
        "mlp3/overlapping",
        "mlp3/separable",
    ]
    assert all(len(g.runs) == 2 and g.label == "random" for g in groups)


def test_unfinished_runs_are_ignored_with_a_warning_or_included_flagged(run_factory):
    run_factory("random/seed_0")
    run_factory("random/seed_1", seed=1, last_step=200)  # interrupted at 200 of 300
    run_factory("random/seed_2", seed=2, accs=())  # started, no evaluation yet
    messages = []
    runs = load_runs([run_factory.root], log=messages.append)
    assert [r.seed for r in runs] == [0]
    assert any("seed_1: unfinished (step 200 of 300); ignored" in m for m in messages)
    assert any("seed_2: no evaluation rows yet" in m for m in messages)

    messages.clear()
    runs = load_runs([run_factory.root], include_unfinished=True, log=messages.append)
    assert [(r.seed, r.finished) for r in runs] == [(0, True), (1, False)]
    assert any("included and flagged" in m for m in messages)


def test_malformed_trailing_line_is_skipped(run_factory):
    path = run_factory("random/seed_0")
    with open(f"{path}/metrics.jsonl", "a") as f:
        f.write('{"step": 3')  # a run caught mid-write
    messages = []
    (run,) = load_runs([run_factory.root], log=messages.append)
    assert len(run.rows) == 3 and run.finished
    assert any("malformed" in m for m in messages)


def test_same_label_with_different_configs_is_split(run_factory):
    for seed in (0, 1):
        # Both budgets are matched with a 300-step baseline (lgl_budget sets schedule_steps).
        lgl = {"method.num_stages": 3, "method.order": "random", "method.schedule_steps": 300}
        run_factory(
            f"fair/seed_{seed}",
            method="lgl",
            seed=seed,
            config=dict(lgl, **{"method.budget": "fair"}),
        )
        run_factory(
            f"paper/seed_{seed}",
            method="lgl",
            seed=seed,
            num_steps=600,
            config=dict(lgl, **{"method.budget": "paper"}),
        )
    labels = [g.label for g in group_runs(load_runs([run_factory.root]))]
    assert labels == [
        "lgl_r3 (budget=fair, num_steps=300)",
        "lgl_r3 (budget=paper, num_steps=600)",
    ]


def test_label_suffix_per_root(tmp_path):
    from tests.report.helpers import write_run

    write_run(tmp_path / "a" / "r0")
    write_run(tmp_path / "b" / "r0")
    runs = load_runs([tmp_path / "a", tmp_path / "b"], suffixes=["@a", "@b"])
    groups = group_runs(runs)
    assert [g.label for g in groups] == ["random@a", "random@b"]


def test_report_package_never_imports_jax_or_the_training_side():
    """Reports run without accelerators: only numpy, scipy, matplotlib, sklearn, the stdlib."""
    package = pathlib.Path(__file__).parents[2] / "lgl_spl" / "report"
    allowed = {"numpy", "scipy", "matplotlib", "sklearn", "threadpoolctl", "lgl_spl"}
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top != "jax" and top != "flax", f"{source.name} imports {name}"
                if top == "lgl_spl":
                    assert name.startswith("lgl_spl.report"), f"{source.name} imports {name}"
                elif top not in allowed:
                    import sys

                    assert top in sys.stdlib_module_names, f"{source.name} imports {name}"


def test_a_key_missing_from_older_runs_does_not_split_them(run_factory):
    run_factory("old/seed_0", method="spl", seed=0)
    run_factory("new/seed_1", method="spl", seed=1, config={"train.eval_train_loss": False})
    (group,) = group_runs(load_runs([run_factory.root]))
    assert group.label == "spl" and [r.seed for r in group.runs] == [0, 1]


# ---- conditions: label noise, caps, budgets -------------------------------------------------


def _by_label_and_noise(groups):
    return {(g.label, g.runs[0].label_noise): g for g in groups}


def test_noise_sweep_gives_one_block_per_level_each_with_its_random(run_factory):
    for noise in (0.0, 0.2, 0.4):
        for seed in (0, 1):
            tag = f"n{noise}/s{seed}"
            noisy = {"data.label_noise": noise}
            run_factory(f"random/{tag}", seed=seed, config=noisy)
            # Uncapped spl: one sweep wrote max_fraction 1.0, an older one had no such key.
            cap = {"method.max_fraction": 1.0} if seed == 0 else {}
            run_factory(f"spl/{tag}", method="spl", seed=seed, config={**noisy, **cap})
            if noise > 0:
                capped = {**noisy, "method.max_fraction": 0.6}
                run_factory(f"spl06/{tag}", method="spl", seed=seed, config=capped)
    groups = group_runs(load_runs([run_factory.root]))
    assert [(g.label, g.condition) for g in groups] == [
        ("random", {"label_noise": 0.0}),
        ("spl", {"label_noise": 0.0}),
        ("random", {"label_noise": 0.2}),
        ("spl", {"label_noise": 0.2}),
        ("spl (max_fraction=0.6)", {"label_noise": 0.2}),
        ("random", {"label_noise": 0.4}),
        ("spl", {"label_noise": 0.4}),
        ("spl (max_fraction=0.6)", {"label_noise": 0.4}),
    ]
    assert all([r.seed for r in g.runs] == [0, 1] for g in groups)
    by = _by_label_and_noise(groups)
    for noise in (0.2, 0.4):
        ref = reference_group(by["spl (max_fraction=0.6)", noise], groups)
        assert ref is by["random", noise]
        assert {r.label_noise for r in ref.runs} == {noise}
    assert reference_group(by["spl", 0.0], groups) is by["random", 0.0]
    assert by["spl", 0.4].condition_label == "label_noise=0.4"


def test_noise_type_splits_only_when_there_is_noise(run_factory):
    for kind in ("symmetric", "asymmetric"):
        for noise in (0.0, 0.4):
            config = {"data.label_noise": noise, "data.label_noise_type": kind}
            run_factory(f"random/{kind}-{noise}", config=config)
    groups = group_runs(load_runs([run_factory.root]))
    # At noise 0 the type flips nothing: both runs are one group.
    assert [(g.condition, len(g.runs)) for g in groups] == [
        ({"label_noise": 0.0, "label_noise_type": None}, 2),
        ({"label_noise": 0.4, "label_noise_type": "asymmetric"}, 1),
        ({"label_noise": 0.4, "label_noise_type": "symmetric"}, 1),
    ]
    assert [g.condition_label for g in groups] == [
        "label_noise=0.0",
        "label_noise=0.4, label_noise_type=asymmetric",
        "label_noise=0.4, label_noise_type=symmetric",
    ]


def test_budget_sweep_gives_one_block_per_budget(run_factory):
    for steps in (300, 600):
        for seed in (0, 1):
            run_factory(f"random/{steps}/s{seed}", seed=seed, num_steps=steps)
            run_factory(f"spl/{steps}/s{seed}", method="spl", seed=seed, num_steps=steps)
    # LGL's paper budget on the 600-step baseline: 900 updates, compared with random at 600.
    lgl = {"method.num_stages": 2, "method.schedule_steps": 600, "method.budget": "paper"}
    run_factory("lgl/900/s0", method="lgl", num_steps=900, config=lgl)
    run_factory("spl/1200/s0", method="spl", num_steps=1200)  # no random at this budget
    groups = group_runs(load_runs([run_factory.root]))
    assert [(g.label, g.condition) for g in groups] == [
        ("random", {"steps": 300}),
        ("spl", {"steps": 300}),
        ("random", {"steps": 600}),
        ("spl", {"steps": 600}),
        ("lgl_r2", {"steps": 600}),
        ("spl", {"steps": 1200}),
    ]
    ref = {g.label + str(g.condition): reference_group(g, groups) for g in groups}
    assert ref["lgl_r2{'steps': 600}"].runs[0].num_steps == 600
    assert ref["spl{'steps': 300}"].runs[0].num_steps == 300
    assert ref["spl{'steps': 1200}"] is None


def test_one_condition_is_not_shown(run_factory):
    run_factory("random/s0", config={"data.label_noise": 0.4})
    run_factory("spl/s0", method="spl", config={"data.label_noise": 0.4})
    groups = group_runs(load_runs([run_factory.root]))
    assert [(g.label, g.condition, g.condition_label) for g in groups] == [
        ("random", {}, ""),
        ("spl", {}, ""),
    ]
    assert reference_group(groups[1], groups) is groups[0]


# ---- rounds.jsonl ------------------------------------------------------------------------------


def test_rounds_are_read_and_tolerate_missing_and_half_written_files(run_factory):
    from tests.report.helpers import make_rounds

    with_rounds = run_factory("spl/s0", method="spl", rounds=make_rounds((0.5, 0.6, 0.7)))
    run_factory("random/s0")  # an older run: no rounds.jsonl
    with open(f"{with_rounds}/rounds.jsonl", "a") as f:
        f.write('{"round": 3, "step": 3')  # caught mid-write
    messages = []
    runs = {r.method: r for r in load_runs([run_factory.root], log=messages.append)}
    assert runs["random"].rounds == []
    assert [r["round"] for r in runs["spl"].rounds] == [0, 1, 2]
    assert [r["selected_fraction"] for r in runs["spl"].rounds] == [0.5, 0.6, 0.7]
    assert any("rounds.jsonl:4: skipped a malformed line" in m for m in messages)


def test_a_repeated_round_keeps_its_last_row(run_factory):
    from tests.report.helpers import make_rounds

    rows = make_rounds((0.5, 0.6))
    path = run_factory("spl/s0", method="spl", rounds=rows + [dict(rows[1], selected_fraction=0.9)])
    (run,) = load_runs([path])
    assert [(r["round"], r["selected_fraction"]) for r in run.rounds] == [(0, 0.5), (1, 0.9)]


def test_variants_are_named_by_what_differs_from_the_usual_configuration(run_factory):
    usual = {"method.clean_holdout": False, "method.il_data": "holdout"}
    variants = {
        "clean": {"method.clean_holdout": True, "method.il_data": "holdout"},
        "halves": {"method.clean_holdout": False, "method.il_data": "halves"},
    }
    for seed in (0, 1):
        # The usual configuration alone in the noise-free block, beside the variants in the
        # noisy one: one label for it in both.
        run_factory(f"plain-0/s{seed}", method="rho_loss", seed=seed, config=usual)
        noisy = {"data.label_noise": 0.4}
        run_factory(f"plain-4/s{seed}", method="rho_loss", seed=seed, config={**usual, **noisy})
        for name, config in variants.items():
            run_factory(f"{name}/s{seed}", method="rho_loss", seed=seed, config={**config, **noisy})
    labels = [g.label for g in group_runs(load_runs([run_factory.root]))]
    assert labels == [
        "rho_loss",
        "rho_loss",
        "rho_loss (clean_holdout=True)",
        "rho_loss (il_data=halves)",
    ]
