"""Every paper config resolves to the paper's schedule, and stays coherent under overrides.

Run with ``-s`` to see the table: epochs per LGL stage and learning-rate milestones.
"""

import glob
import os

import numpy as np
import pytest

from lgl_spl import core
from lgl_spl.samplers import SamplerContext, make_sampler
from lgl_spl.train import run_length
from lgl_spl.train.state import make_schedule
from lgl_spl.util import ceil_div
from tests.helpers import CONFIGS, load_config

# (training examples, classes) of each paper dataset, as the papers train on them.
PAPER_DATA = {
    "cifar10": (50_000, 10),
    "cifar100": (50_000, 100),
    "fashion_mnist": (60_000, 10),
    "svhn_cropped": (604_388, 10),  # train + extra
    "imagenet2012": (1_281_167, 1000),
}
# The epochs of each paper's runs and the epochs at which the learning rate drops.
PAPER_SCHEDULE = {
    "cifar10_": (200, (60, 120, 160)),  # SPL-ADVisE §4
    "cifar100_": (200, (60, 120, 160)),  # "identical to the CIFAR-10 experiments"
    "fashion_mnist_": (100, ()),
    "svhn_": (65, (32.5, 48.75)),
    "cifar10_vgg16_": (100, ()),  # LGL §5.2: 0.95^epoch
    "cifar100_vgg16_": (100, ()),
    "imagenet_": (90, (30, 60)),  # LGL §5.4
}
PAPER_CONFIGS = sorted(
    os.path.basename(p)[:-3]
    for p in glob.glob(os.path.join(CONFIGS, "*.py"))
    if any(os.path.basename(p).startswith(k) for k in PAPER_SCHEDULE)
)


def schedule_of(name):
    return PAPER_SCHEDULE[max((k for k in PAPER_SCHEDULE if name.startswith(k)), key=len)]


def stage_rounds(c, num_train, num_classes):
    """Rounds of each LGL stage, from the sampler the run would build."""
    ctx = SamplerContext(
        num_examples=num_train,
        num_classes=num_classes,
        batch_size=int(c.train.batch_size),
        seed=0,
        num_steps=int(c.train.num_steps),
        labels=(np.arange(num_train) % num_classes).astype(np.int32),
    )
    sampler = make_sampler(c.method, ctx)
    ends = [*sampler.stage_starts[1:], ctx.num_rounds]
    return np.diff([0, *ends]), ctx.steps_per_round


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_config_resolves_to_the_papers_schedule(name):
    c = load_config(name)
    num_train, num_classes = PAPER_DATA[c.data.name]
    epochs, drops = schedule_of(name)
    r = run_length.resolve(c, num_train=num_train, num_classes=num_classes)
    per_epoch = ceil_div(num_train, r.train.batch_size)
    assert r.train.eval_every == per_epoch  # an evaluation every epoch
    if r.train.lr_schedule == "piecewise":
        milestones = [b / per_epoch for b in r.train.lr_boundaries]
        np.testing.assert_allclose(milestones, drops, atol=1 / per_epoch)
    if r.train.lr_schedule == "exponential":
        assert r.train.lr_decay_steps == per_epoch  # ×0.95 every epoch
    if r.method.name != "lgl":
        assert r.train.num_steps == epochs * per_epoch
        print(f"\n{name}: {epochs} epochs, LR drops at epochs {drops or 'none'}")
        return
    # LGL: every stage trains the baseline's epochs over the classes it holds.
    assert r.method.schedule_steps == epochs * per_epoch
    sizes = np.cumsum(core.stage_sizes(num_classes, int(r.method.num_stages)))
    rounds, _ = stage_rounds(r, num_train, num_classes)
    want = epochs * sizes / num_classes  # a round is an epoch of the whole data
    print(
        f"\n{name}: stages of {sizes.tolist()} classes get {rounds.tolist()} epochs "
        f"(the baseline's {epochs} over their classes: {np.round(want, 2).tolist()})"
    )
    np.testing.assert_allclose(rounds, want, atol=1.0)


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_a_short_run_from_the_command_line_stays_coherent(name):
    """``--config.train.num_epochs=5``: milestones, evaluations and LGL's stages follow."""
    c = load_config(name)
    c.train.num_epochs = 5
    num_train, num_classes = PAPER_DATA[c.data.name]
    epochs, drops = schedule_of(name)
    r = run_length.resolve(c, num_train=num_train, num_classes=num_classes)
    per_epoch = ceil_div(num_train, r.train.batch_size)
    baseline = 5 * per_epoch
    if r.train.lr_schedule == "piecewise":
        want = [d / epochs * baseline for d in drops]
        np.testing.assert_allclose(r.train.lr_boundaries, want, atol=1.0)
    if r.method.name == "lgl":
        sizes = np.cumsum(core.stage_sizes(num_classes, int(r.method.num_stages)))
        rounds, _ = stage_rounds(r, num_train, num_classes)
        np.testing.assert_allclose(rounds, 5 * sizes / num_classes, atol=1.0)
    else:
        assert r.train.num_steps == baseline


def test_cosine_without_decay_steps_decays_over_the_run():
    c = load_config("cifar10_advise")
    c.train.lr_schedule = "cosine"
    c.train.num_epochs = 3
    r = run_length.resolve(c, num_train=50_000, num_classes=10)
    schedule = make_schedule(r.train)
    assert r.train.lr_decay_steps == r.train.num_steps == 3 * 391
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(r.train.num_steps)) == pytest.approx(0.0, abs=1e-9)
    assert 0.04 < float(schedule(r.train.num_steps // 2)) < 0.06


def test_resolving_needs_no_epochs_and_keeps_explicit_steps():
    c = load_config("digits_random")
    r = run_length.resolve(c, num_train=1438, num_classes=10)
    assert r.train.num_steps == c.train.num_steps and r.train.eval_every == c.train.eval_every
    assert r.is_locked  # still refuses misspelt keys
