"""The run's length and what follows from it, resolved when the data are loaded.

Command-line overrides stay coherent because nothing here is computed in a config
file: the run length in epochs or steps, then from it the evaluation cadence, the
learning-rate milestones and decay, and each method's derived settings (declared
beside its sampler: ``Method.derive``; LGL's budget and per-stage schedule,
ADVisE's embedding steps). docs/design.md §6.
"""

from __future__ import annotations

import ml_collections

from lgl_spl.samplers import get_method
from lgl_spl.util import ceil_div


def resolve(config, *, num_train: int, num_classes: int) -> ml_collections.ConfigDict:
    """The config with everything derived from the run length filled in (a new copy, locked).

    ``num_train`` is the training set after ``train_limit`` and the validation split.
    """
    c = ml_collections.ConfigDict(config.to_dict())
    t = c.train
    per_epoch = ceil_div(num_train, int(t.batch_size))
    if float(t.num_epochs) > 0:
        t.num_steps = max(1, round(float(t.num_epochs) * per_epoch))
    baseline = int(t.num_steps)  # the run of the baseline; a method may derive its own
    if float(t.eval_every_epochs) > 0:
        t.eval_every = max(1, round(float(t.eval_every_epochs) * per_epoch))
    if t.lr_milestones:
        t.lr_boundaries = tuple(round(float(f) * baseline) for f in t.lr_milestones)
    if float(t.lr_decay_epochs) > 0:
        t.lr_decay_steps = max(1, round(float(t.lr_decay_epochs) * per_epoch))
    if t.lr_schedule == "cosine" and not int(t.lr_decay_steps):
        t.lr_decay_steps = baseline
    derive = get_method(c.method.name).derive
    if derive is not None:
        derive(c.method, t, baseline=baseline, num_classes=num_classes, num_train=num_train)
    c.lock()
    return c
