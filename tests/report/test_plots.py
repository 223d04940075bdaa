"""Curves, toy loss and t-SNE figures are written (and the curve maths is right)."""

import numpy as np
import pytest

from lgl_spl.report import (
    group_curve,
    group_runs,
    load_runs,
    plot_curves,
    plot_rounds,
    plot_toy_loss,
    round_curve,
)
from lgl_spl.report.plots import (
    LEGEND_WIDTH,
    METHOD_COLOURS,
    _panels,
    curves_figure,
    rounds_figure,
    toy_loss_figure,
)
from lgl_spl.report.tsne import pick_snapshots, plot_tsne, tsne_run
from tests.report.helpers import make_rounds, write_snapshots


def _groups(root, **kw):
    return group_runs(load_runs([root], log=lambda m: None, **kw))


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_group_curve_mean_and_bands(run_factory):
    run_factory("random/seed_0", accs=[0.2, 0.4, 0.6])
    run_factory("random/seed_1", seed=1, accs=[0.4, 0.6, 0.9])
    (group,) = _groups(run_factory.root)
    curve = group_curve(group, "test_accuracy")
    np.testing.assert_array_equal(curve.steps, [100, 200, 300])
    np.testing.assert_allclose(curve.mean, [0.3, 0.5, 0.75])
    np.testing.assert_allclose(curve.low, [0.2, 0.4, 0.6])
    np.testing.assert_allclose(curve.high, [0.4, 0.6, 0.9])
    std = group_curve(group, "test_accuracy", band="std")
    spread = np.std([[0.2, 0.4, 0.6], [0.4, 0.6, 0.9]], axis=0, ddof=1)
    np.testing.assert_allclose(std.high - std.mean, spread)


def test_curves_png(run_factory, tmp_path):
    for seed in (0, 1):
        run_factory(f"random/seed_{seed}", seed=seed)
        run_factory(f"spl/seed_{seed}", method="spl", seed=seed, accs=[0.4, 0.6, 0.75])
        run_factory(
            f"lgl/seed_{seed}", method="lgl", seed=seed, num_steps=600, accs=[0.2, 0.5, 0.7, 0.9]
        )
    path = tmp_path / "curves.png"
    assert plot_curves(_groups(run_factory.root), str(path), title="T") == str(path)
    assert path.stat().st_size > 1000 and _is_png(path)
    assert plot_curves([], str(tmp_path / "none.png")) is None


def test_toy_loss_png_one_panel_per_network_and_layout(run_factory, tmp_path):
    for model in ("mlp1", "mlp3"):
        for method in ("random", "spl", "spl_inv", "lgl"):
            run_factory(
                f"{method}/{model}/seed_0",
                method=method,
                dataset="toy",
                model=model,
                train_loss=[1.0, 0.5, 0.2],
            )
    path = tmp_path / "toy_loss.png"
    assert plot_toy_loss(_groups(run_factory.root), str(path)) == str(path)
    assert path.stat().st_size > 1000 and _is_png(path)


def test_toy_loss_skipped_without_toy_runs(run_factory, tmp_path):
    run_factory("random/seed_0")
    assert plot_toy_loss(_groups(run_factory.root), str(tmp_path / "t.png")) is None
    assert not (tmp_path / "t.png").exists()


def test_pick_snapshots_first_middle_last():
    paths = [f"s{i}" for i in range(10)]
    assert pick_snapshots(paths, 4) == ["s0", "s3", "s6", "s9"]
    assert pick_snapshots(paths[:2], 4) == ["s0", "s1"]
    assert pick_snapshots([], 4) == []


def test_tsne_png_on_tiny_snapshots(run_factory, tmp_path):
    path = run_factory("advise/seed_0", method="advise")
    write_snapshots(path)
    run_factory("advise/seed_1", method="advise", seed=1)  # no snapshots
    runs = load_runs([run_factory.root])
    run = tsne_run(runs)
    assert run.path == path and len(run.snapshots) == 5
    out = tmp_path / "tsne.png"
    result = plot_tsne(run, str(out), panels=3, max_points=30, max_iter=250, log=lambda m: None)
    assert result == str(out)
    assert out.stat().st_size > 1000 and _is_png(out)


def test_no_advise_snapshots_means_no_tsne(run_factory):
    run_factory("advise/seed_0", method="advise")
    assert tsne_run(load_runs([run_factory.root])) is None


@pytest.mark.parametrize("band", ["minmax", "std"])
def test_bands_accepted(run_factory, tmp_path, band):
    run_factory("random/seed_0")
    assert plot_curves(_groups(run_factory.root), str(tmp_path / "c.png"), band=band)


# ---- rounds.png --------------------------------------------------------------------------------


def _noise_sweep(run_factory, levels=(0.0, 0.4)):
    """random and spl × 2 seeds at each noise level, with rounds.jsonl; noisy rounds
    where the level is above 0."""
    for noise in levels:
        for seed in (0, 1):
            for method, noisy_selected in (("random", None), ("spl", (0.1, 0.2, 0.3, 0.4))):
                extra = {"noisy_fraction": noise, "noisy_selected": noisy_selected} if noise else {}
                selected = (1.0,) * 4 if method == "random" else (0.5, 0.6, 0.8, 1.0)
                run_factory(
                    f"{method}-{noise}/s{seed}",
                    method=method,
                    seed=seed,
                    config={"data.label_noise": noise},
                    rounds=make_rounds(selected, **extra),
                )


def test_rounds_png_one_row_per_condition_and_a_noise_panel_where_noisy(run_factory, tmp_path):
    _noise_sweep(run_factory)
    groups = _groups(run_factory.root)
    fig = rounds_figure(groups, title="T")
    titles = [ax.get_title() for ax in fig.axes]
    # Noise 0: the selected fraction only; noise 0.4: also the noisy share.
    assert titles == [
        "lenet · label_noise=0.0:\nselected fraction",
        "lenet · label_noise=0.4:\nselected fraction",
        "lenet · label_noise=0.4:\nnoisy labels among the selected",
    ]
    noisy_ax = fig.axes[2]
    assert [line.get_label() for line in noisy_ax.get_lines()] == ["random", "spl", "in the data"]
    dashed = noisy_ax.get_lines()[-1]
    assert dashed.get_linestyle() == ":" and list(dashed.get_ydata()) == [0.4, 0.4]
    spl_line = noisy_ax.get_lines()[1]
    np.testing.assert_allclose(spl_line.get_ydata(), [0.1, 0.2, 0.3, 0.4])
    # The same colour per method as in curves.png.
    selected_ax = fig.axes[0]
    assert selected_ax.get_lines()[1].get_color() == spl_line.get_color()

    path = tmp_path / "rounds.png"
    assert plot_rounds(groups, str(path)) == str(path)
    assert path.stat().st_size > 1000 and _is_png(path)


def test_rounds_png_without_noise_has_one_panel_per_setting(run_factory):
    _noise_sweep(run_factory, levels=(0.0,))
    fig = rounds_figure(_groups(run_factory.root))
    assert len(fig.axes) == 1
    # No empty second column: one panel and the legend beside it.
    assert fig.get_size_inches()[0] == pytest.approx(6.0 + LEGEND_WIDTH)


def test_rounds_png_skipped_without_rounds(run_factory, tmp_path):
    run_factory("random/seed_0")
    assert plot_rounds(_groups(run_factory.root), str(tmp_path / "r.png")) is None
    assert not (tmp_path / "r.png").exists()


def test_round_curve_mean_and_band(run_factory):
    run_factory("spl/s0", method="spl", rounds=make_rounds((0.5, 0.7)))
    run_factory("spl/s1", method="spl", seed=1, rounds=make_rounds((0.3, 0.9, 1.0)))
    (group,) = _groups(run_factory.root)
    curve = round_curve(group, "selected_fraction")
    np.testing.assert_array_equal(curve.steps, [0, 1, 2])
    np.testing.assert_allclose(curve.mean, [0.4, 0.8, 1.0])
    np.testing.assert_allclose(curve.low, [0.3, 0.7, 1.0])
    np.testing.assert_array_equal(curve.count, [2, 2, 1])


def test_curves_have_one_panel_per_noise_level(run_factory, tmp_path):
    _noise_sweep(run_factory, levels=(0.0, 0.2, 0.4))
    groups = _groups(run_factory.root)
    panels = _panels(groups)
    assert [[g.label for g in members] for members in panels.values()] == [["random", "spl"]] * 3
    assert plot_curves(groups, str(tmp_path / "c.png"))


# ---- one colour per method, legends outside ---------------------------------------------------


def _lines(fig) -> dict[str, list]:
    """Every labelled data line of a figure, by label."""
    out: dict[str, list] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                out.setdefault(line.get_label(), []).append(line)
    return out


def _mixed_sweep(run_factory):
    """Two noise levels; random, spl, spl_inv, spld, capped spl × 2 seeds, with rounds; the
    methods appear in a different order in the second block (spl_inv first)."""
    for noise, methods in ((0.0, ("spl", "spld")), (0.4, ("spl_inv", "spl", "spl_cap"))):
        for seed in (0, 1):
            for name in ("random", *methods):
                config = {"data.label_noise": noise}
                if name == "spl_cap":
                    config["method.max_fraction"] = 0.6
                extra = {"noisy_fraction": noise} if noise else {}
                run_factory(
                    f"{name}-{noise}/s{seed}",
                    method=name.removesuffix("_cap"),
                    seed=seed,
                    accs=[0.3 + seed / 10, 0.5, 0.6 - seed / 20],
                    config=config,
                    rounds=make_rounds(**extra),
                )


def test_a_method_has_one_colour_in_every_figure(run_factory):
    _mixed_sweep(run_factory)
    groups = _groups(run_factory.root)
    for fig in (curves_figure(groups), rounds_figure(groups)):
        lines = _lines(fig)
        for label, expected in (("random", "random"), ("spl", "spl"), ("spl_inv", "spl_inv")):
            assert {line.get_color() for line in lines[label]} == {METHOD_COLOURS[expected]}
            assert {line.get_linestyle() for line in lines[label]} == {"-"}
        capped = lines["spl (max_fraction=0.6)"]
        # The capped pace: spl's hue, dashed.
        assert {(x.get_color(), x.get_linestyle()) for x in capped} == {
            (METHOD_COLOURS["spl"], "--")
        }
    # Nine methods of the reports, nine distinct colours (the toy lgl_r2 shares lgl_r3's).
    shown = {k: v for k, v in METHOD_COLOURS.items() if k != "lgl_r2"}
    assert len(set(shown.values())) == len(shown)


def test_toy_loss_uses_the_same_colours(run_factory):
    for method in ("random", "spl", "spl_inv"):
        run_factory(
            f"{method}/s0", method=method, dataset="toy", model="mlp1", train_loss=[1.0, 0.5, 0.2]
        )
    fig = toy_loss_figure(_groups(run_factory.root))
    lines = _lines(fig)
    assert lines["baseline"][0].get_color() == METHOD_COLOURS["random"]
    assert lines["spl_inv"][0].get_color() == METHOD_COLOURS["spl_inv"]


def test_legends_sit_outside_the_panels(run_factory):
    _mixed_sweep(run_factory)
    groups = _groups(run_factory.root)
    for fig in (curves_figure(groups), rounds_figure(groups)):
        assert all(ax.get_legend() is None for ax in fig.axes)  # none on the data
        (legend,) = fig.legends
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels[:2] == ["random", "spl"] and "spl (max_fraction=0.6)" in labels
        assert len(labels) == len(set(labels))  # each method once
        fig.draw_without_rendering()  # constrained layout places the legend
        box = legend.get_window_extent()
        for ax in fig.axes:
            assert box.x0 >= ax.get_window_extent().x1  # entirely right of every panel


def test_bands_have_an_outline_in_the_lines_style(run_factory):
    _mixed_sweep(run_factory)
    fig = curves_figure(_groups(run_factory.root))
    ax = fig.axes[1]  # noise 0.4: random, spl_inv, spl, capped spl
    bands = ax.collections
    assert len(bands) == 4
    face = [tuple(b.get_facecolor()[0]) for b in bands]
    edge = [tuple(b.get_edgecolor()[0]) for b in bands]
    assert all(f[3] < 0.15 for f in face)  # light fills
    assert all(e[3] > f[3] for e, f in zip(edge, face, strict=True))  # stronger outlines
    assert len(set(edge)) == 3  # spl and its capped variant share a hue …
    assert bands[3].get_linestyle() != bands[2].get_linestyle()  # … not a line style


def test_rounds_mark_each_method_so_coinciding_lines_stay_visible(run_factory):
    for method in ("spl", "spl_inv"):  # the same pace: the same selected fractions
        run_factory(f"{method}/s0", method=method, rounds=make_rounds((0.5, 0.7, 1.0)))
    lines = _lines(rounds_figure(_groups(run_factory.root)))
    spl, inv = lines["spl"][0], lines["spl_inv"][0]
    np.testing.assert_array_equal(spl.get_ydata(), inv.get_ydata())
    assert spl.get_marker() != inv.get_marker() and spl.get_markerfacecolor() == "none"


def test_variants_of_one_method_each_have_their_own_line_style(run_factory):
    variants = {
        "": {"method.clean_holdout": False, "method.il_data": "holdout"},
        "clean": {"method.clean_holdout": True, "method.il_data": "holdout"},
        "halves": {"method.clean_holdout": False, "method.il_data": "halves"},
    }
    for name, config in variants.items():
        for seed in (0, 1):
            run_factory(f"rho{name}/s{seed}", method="rho_loss", seed=seed, config=config)
    groups = _groups(run_factory.root)
    assert len(groups) == 3 and all(g.label != "rho_loss" for g in groups)  # all variants
    lines = _lines(curves_figure(groups))
    styles = {label: {line.get_linestyle() for line in found} for label, found in lines.items()}
    assert all(len(s) == 1 for s in styles.values())
    assert len({next(iter(s)) for s in styles.values()}) == 3  # three looks, one hue
    assert len({found[0].get_color() for found in lines.values()}) == 1
