"""Offline: LGL's toy experiment (three 2-D Gaussians), FC-1, plain SGD 0.01, uniform sampling.

Layouts: --config.data.toy_layout=separable|overlapping; FC-3: --config.model.name=mlp3.
"""

from lgl_spl.configlib import base_config


def get_config():
    c = base_config()
    c.method.name = "random"
    c.data.name = "toy"
    c.data.toy_layout = "separable"
    c.model.name = "mlp1"
    c.train.batch_size = 30
    c.train.num_steps = 2000
    c.train.eval_every = 100
    c.train.log_every = 500
    c.train.optimizer = "sgd"  # LGL §5.1: basic SGD, fixed learning rate 0.01
    c.train.learning_rate = 0.01
    c.train.momentum = 0.0
    c.train.weight_decay = 0.0
    return c
