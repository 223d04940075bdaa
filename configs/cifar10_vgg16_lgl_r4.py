"""LGL Tables 1 and 3: cifar10, LGL(r, 4): 4 stages, random order, the paper's budget."""

from lgl_spl.configlib import lgl_row


def get_config():
    return lgl_row("cifar10", "lgl", stages=4, order="random")
