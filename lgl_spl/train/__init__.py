"""The training loop: jitted data-parallel steps, checkpoints and metrics."""

from lgl_spl.train.loop import config_fingerprint, train_and_evaluate

__all__ = ["config_fingerprint", "train_and_evaluate"]
