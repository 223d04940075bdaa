"""The reliability tests' experiment: every method on 320 digits, a few seconds a run.

Usable as a config file too, so a subprocess and an in-process run are the same run:
``python -m lgl_spl.main --config tests/reliability/tiny.py:advise --workdir DIR``.
The dataset, model and batch are the same for every method, so the compiled train,
evaluation and scoring steps are shared by all of them (see tests/conftest.py's compilation cache).
"""

from lgl_spl.configlib import digits_student, set_method
from lgl_spl.samplers import registry

STEPS = 60  # 6 rounds of 10 steps (320 examples / batch 32)
EVAL_EVERY = 15

# Every registered method, with the settings it declares for runs this small (Method.tiny):
# a new method is in every reliability test without being listed here.
METHODS = {name: dict(method.tiny) for name, method in registry.METHODS.items()}


def get_config(name: str = "random"):
    c = digits_student()
    c.data.train_limit = 320
    c.model.width = 0.25
    c.train.batch_size = 32
    c.train.num_steps = STEPS
    c.train.eval_every = EVAL_EVERY
    c.train.eval_batch_size = 128
    c.train.log_every = 10_000
    c.train.lr_decay_steps = STEPS
    return set_method(c, name, **METHODS[name])
