"""Offline: digits with LGL, 3 stages in random order, the paper's budget ((m+1)/2 × updates)."""

from lgl_spl.configlib import digits_student, lgl_budget, set_method


def get_config():
    c = set_method(digits_student(), "lgl", num_stages=3, order="random", budget="paper")
    lgl_budget(c, baseline_steps=1500)
    c.train.lr_decay_steps = 1500  # the cosine spans one stage's stretched schedule
    return c
