"""The training side: the loop, its parts (run state, evaluator, writers, embedding learner),
jitted data-parallel steps and checkpoints."""

from lgl_spl.train.loop import train_and_evaluate
from lgl_spl.train.resume import config_fingerprint

__all__ = ["config_fingerprint", "train_and_evaluate"]
