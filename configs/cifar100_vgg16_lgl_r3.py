"""LGL Tables 1 and 3: cifar100, LGL(r, 3): 3 stages, random order, the paper's budget."""

from lgl_spl.configlib import lgl_row


def get_config():
    return lgl_row("cifar100", "lgl", stages=3, order="random")
