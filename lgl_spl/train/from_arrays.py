"""What a learner built from arrays needs, checked once for every builder (the
irreducible-loss model's, static pruning's scoring runs): labels, a train block, a network."""

from __future__ import annotations

import numpy as np

from lgl_spl import models
from lgl_spl.errors import ConfigError


def learner_inputs(x_train, labels, *, num_classes, batch_size, model, width, train: dict):
    """``(x, y, num_classes, train block, network)``: ``labels`` checked against ``x_train``,
    the train block completed and checked, ``model`` (a name, an import path, or a Linen
    module returning logits or ``(logits, features)``) built for the classes."""
    import flax.linen as nn

    from lgl_spl import settings as settings_lib
    from lgl_spl.models.own import OwnModel
    from lgl_spl.samplers import functional

    y, c = functional.check_labels(labels, num_classes)
    x = np.asarray(x_train)
    if len(x) != len(y):
        raise ConfigError(f"x_train has {len(x)} examples but labels has {len(y)}")
    block = settings_lib.complete(
        {"batch_size": int(batch_size or 128), **train}, settings_lib.TRAIN
    )
    settings_lib.check_block("train", block, settings_lib.TRAIN, owner="the train block")
    if isinstance(model, nn.Module):
        net = OwnModel(model, num_classes=c, import_path=type(model).__name__)
    else:
        net = models.get_model(str(model), num_classes=c, width=float(width))
    return x, y, c, block, net
