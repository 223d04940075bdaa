"""The reliability tests' experiment: every method on 320 digits, a few seconds a run.

Usable as a config file too, so a subprocess and an in-process run are the same run:
``python -m lgl_spl.main --config tests/reliability/tiny.py:advise --workdir DIR``.
The dataset, model and batch are the same for every method, so the compiled train,
evaluation and scoring steps are shared by all of them (see tests/conftest.py's compilation cache).
"""

from lgl_spl.configlib import digits_student, set_method

STEPS = 60  # 6 rounds of 10 steps (320 examples / batch 32)
EVAL_EVERY = 15

METHODS = {
    "random": {},
    "spl": {},
    "spl_inv": {},
    "spld": {"num_clusters": 2},
    "advise": {
        "num_clusters": 2,
        "clusters_per_batch": 4,
        "examples_per_cluster": 4,
        "embed_steps": 30,
        "refresh_every": 10,
        "student_steps_per_embed_step": 2,
        "embed_width": 0.25,
        "embed_dim": 8,
        "embed_lr": 1e-3,
        "snapshot_examples": 0,
    },
    "lgl": {"num_stages": 3, "order": "dissimilar", "budget": "fair"},
    # Online batch selection: 3 × the batch scored per step, one warm-up round; RHO-LOSS's
    # irreducible-loss model trains 2 epochs on a quarter of the data (every class in it).
    "online_hard": {"candidates": 96},
    "online_easy": {"candidates": 96},
    "rho_loss": {"candidates": 96, "il_epochs": 2, "holdout_fraction": 0.25},
}


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
