"""LGL Tables 1 and 3: cifar10, LGL(d, 3): 3 stages, dissimilar order, the paper's budget."""

from lgl_spl.configlib import lgl_row


def get_config():
    return lgl_row("cifar10", "lgl", stages=3, order="dissimilar")
