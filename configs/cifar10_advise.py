"""SPL-ADVisE Table 1: cifar10 × advise, the paper's student and settings. The flagship."""

from lgl_spl.configlib import advise_row


def get_config():
    return advise_row("cifar10", "advise")
