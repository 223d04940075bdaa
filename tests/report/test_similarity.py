"""LGL Table 2 from ``class_entropies``."""

from lgl_spl.report import lgl_similarity, load_runs, write_similarity

STAGE0 = [2, 4, 8, 9]
H1 = {0: 0.61, 1: 0.54, 3: 0.45, 5: 0.48, 6: 0.70, 7: 0.52}  # remaining at stage 1
H2 = {3: 0.30, 5: 0.41, 7: 0.25}


def _entropies(values):
    return [values.get(i) for i in range(10)]


def _rows():
    stage1 = {"stage": 1, "classes": sorted(STAGE0 + [0, 1, 6]), "class_entropies": _entropies(H1)}
    return [
        {"stage": 0, "classes": STAGE0},
        stage1,
        stage1,  # a second evaluation in the same stage: reported once
        {"stage": 2, "classes": list(range(10)), "class_entropies": _entropies(H2)},
    ]


def _lgl(run_factory, name, order, **kw):
    return run_factory(
        name,
        method="lgl",
        accs=[0.3, 0.5, 0.6, 0.8],
        config={"method.order": order, "method.num_stages": 3},
        **kw,
    )


def test_picks_lowest_and_highest_entropy_classes_by_name(run_factory, tmp_path):
    _lgl(run_factory, "lgl_d3/seed_0", "dissimilar", row_extra=_rows())
    _lgl(run_factory, "lgl_r3/seed_0", "random")  # no entropies: not in the table
    entries = lgl_similarity(load_runs([run_factory.root]), k=3)
    assert [(e.method, e.stage) for e in entries] == [("lgl_d3", 1), ("lgl_d3", 2)]
    first = entries[0]
    assert first.trained == ["Pullover", "Coat", "Bag", "Ankle boot"]
    assert first.lowest == [("Dress", 0.45), ("Sandal", 0.48), ("Sneaker", 0.52)]
    assert first.highest == [("Shirt", 0.70), ("T-shirt/top", 0.61), ("Trouser", 0.54)]
    assert first.added == ["T-shirt/top", "Trouser", "Shirt"]
    second = entries[1]
    assert [n for n, _ in second.lowest[:1]] == ["Sneaker"]
    assert [n for n, _ in second.highest[:1]] == ["Sandal"]
    assert second.added == ["Dress", "Sandal", "Sneaker"]

    path = write_similarity(entries, str(tmp_path / "lgl_similarity.md"), title="FMNIST")
    text = open(path).read()
    assert "| 1 | Pullover, Coat, Bag, Ankle boot | Dress (0.450), Sandal (0.480)" in text
    assert "Shirt (0.700), T-shirt/top (0.610), Trouser (0.540)" in text


def test_falls_back_to_class_ids_without_run_info(run_factory):
    _lgl(run_factory, "lgl_s3/seed_0", "similar", row_extra=_rows(), info=False)
    (first, _) = lgl_similarity(load_runs([run_factory.root]), k=2)
    assert first.lowest == [("3", 0.45), ("5", 0.48)]
    assert first.trained == ["2", "4", "8", "9"]


def test_nothing_without_entropies(run_factory):
    run_factory("random/seed_0")
    _lgl(run_factory, "lgl_r3/seed_0", "random")
    assert lgl_similarity(load_runs([run_factory.root])) == []
