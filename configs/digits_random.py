"""Offline: scikit-learn's 8×8 digits, a small LeNet, uniform sampling (seconds on a CPU)."""

from lgl_spl.configlib import base_config


def get_config():
    c = base_config()
    c.method.name = "random"
    c.data.name = "digits"
    c.model.name = "lenet"
    c.train.batch_size = 64
    c.train.num_steps = 1500
    c.train.eval_every = 250
    c.train.log_every = 250
    c.train.learning_rate = 0.05
    c.train.lr_schedule = "cosine"
    c.train.lr_decay_steps = 1500
    return c
