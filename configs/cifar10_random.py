"""SPL-ADVisE Table 1: cifar10 × random, with the paper's student and settings."""

from lgl_spl.configlib import advise_row


def get_config():
    return advise_row("cifar10", "random")
