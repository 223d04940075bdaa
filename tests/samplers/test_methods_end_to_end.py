"""Every method through the real loop: it runs, logs its facts, and resumes exactly."""

import os

import numpy as np
import pytest

from lgl_spl import core
from lgl_spl.configlib import set_method
from lgl_spl.samplers import registry
from lgl_spl.train import loop as loop_module
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.experiment import build_experiment
from tests.helpers import read_metrics, read_rows, tiny_digits

# Every registered method runs here (its Method.tiny settings), with these settings where
# this test's longer runs give room for more (a new method cannot be left out).
SETTINGS = {
    "spld": {"num_clusters": 4},
    "advise": {
        "num_clusters": 4,
        "embed_steps": 80,
        "refresh_every": 20,
        "student_steps_per_embed_step": 2,
        "embed_width": 0.5,
        "embed_dim": 16,
    },
    "lgl": {"num_stages": 3, "order": "dissimilar", "budget": "fair"},
}
METHODS = {name: SETTINGS.get(name, dict(m.tiny)) for name, m in registry.METHODS.items()}


def config(name):
    # 4 rounds of 45 steps; an evaluation and a checkpoint every 30 steps.
    c = tiny_digits(num_steps=180, eval_every=30, checkpoint_every=30, lr_decay_steps=180)
    return set_method(c, name, **METHODS[name])


class Crash(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_runs_and_resumes_exactly(tmp_path, monkeypatch, name):
    ref_dir, run_dir = str(tmp_path / "ref"), str(tmp_path / "run")
    last = train_and_evaluate(config(name), ref_dir)
    ref = read_metrics(ref_dir)
    end = ref[-1]["step"]  # 180, or earlier for a method of short rounds (infobatch)
    assert [r["step"] for r in ref] == [*range(30, end, 30), end]
    assert end == 180 or registry.METHODS[name].short_rounds
    assert all(0.0 < r["selected_fraction"] <= 1.0 for r in ref)
    if name not in ("random", "superloss"):  # every selecting method logs what it selected
        assert all(len(r["selected_per_class"]) == 10 for r in ref)
    if name in ("spld", "advise"):
        assert all(r["clusters_represented"] >= 1 for r in ref)
    if name == "lgl":
        assert len(ref[0]["classes"]) == 4 and len(ref[-1]["classes"]) == 10
    if name in ("spl", "spl_inv", "spld", "advise"):
        assert ref[-1]["extra_forward_passes"] > 0  # the scoring passes are counted
    assert last["test_accuracy"] > 0.5
    if name == "advise":  # the embedding net's snapshots, for the report's t-SNE
        snaps = sorted(os.listdir(os.path.join(ref_dir, "embeddings")))
        assert snaps == [f"step_{s:08d}.npz" for s in range(0, 181, 30)]
        with np.load(os.path.join(ref_dir, "embeddings", snaps[-1])) as z:
            assert z["embeddings"].shape == (1000, 16) and np.isfinite(z["embeddings"]).all()
            assert z["labels"].shape == (1000,) and int(z["embed_steps"]) > 0

    real_drain = loop_module._drain

    def crashing_drain(pending, rs, step, where):
        if step >= 100:  # between the checkpoints at steps 90 and 120
            raise Crash(step)
        return real_drain(pending, rs, step, where)

    monkeypatch.setattr(loop_module, "_drain", crashing_drain)
    with pytest.raises(Crash):
        train_and_evaluate(config(name), run_dir)
    monkeypatch.setattr(loop_module, "_drain", real_drain)
    assert read_metrics(run_dir)[-1]["step"] == 90
    train_and_evaluate(config(name), run_dir)
    assert read_metrics(run_dir) == ref
    assert _rounds(run_dir) == _rounds(ref_dir)  # no row lost or written twice


def _rounds(workdir):
    """rounds.jsonl without its wall times."""
    return [{k: v for k, v in r.items() if k != "time"} for r in read_rows(workdir, "rounds.jsonl")]


def test_lgl_never_predicts_an_untrained_class(tmp_path):
    c = set_method(tiny_digits(num_steps=90, eval_every=45), "lgl", num_stages=2)
    train_and_evaluate(c, str(tmp_path))
    exp = build_experiment(c)
    rs, _ = loop_module.load_checkpoint(exp, str(tmp_path))  # the fully trained student
    rs.sampler = exp.sampler.init()
    loop_module.start_round(exp, rs, 0, first_step=0)  # stage 0's 5 classes
    mask = rs.plan.class_mask
    labels = exp.dataset.y_train
    want = ("logits", "class_entropies")
    sig = exp.evaluator.score(rs.train, exp.train_feed, mask, labels, want)
    predicted = np.argmax(sig.logits, axis=1)
    assert mask.sum() == 5 and np.all(mask[predicted])
    assert sig.losses is None and sig.features is None  # only what was asked for
    # The entropies summed on the devices batch by batch are the host formula's.
    host = core.class_conditional_entropies(sig.logits, labels, mask, num_classes=10)
    np.testing.assert_allclose(sig.class_entropies, host, rtol=1e-5)
