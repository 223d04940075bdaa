"""LGL Tables 1 and 3: cifar100, LGL(d, 3): 3 stages, dissimilar order, the paper's budget."""

from lgl_spl.configlib import lgl_row


def get_config():
    return lgl_row("cifar100", "lgl", stages=3, order="dissimilar")
