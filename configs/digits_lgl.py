"""Offline: digits with LGL, 3 stages in random order, the paper's budget.

Every stage trains the baseline's 1,500-step schedule over the classes it holds
(docs/design.md §4): 1,500 × (4 + 8 + 10) / 10 = 3,300 steps in all.
"""

from lgl_spl.configlib import digits_student, set_method


def get_config():
    return set_method(digits_student(), "lgl", num_stages=3, order="random", budget="paper")
