"""LGL Table 1: cifar100 × spl_inv, LGL's VGG-16 and schedule (`random` = the baseline)."""

from lgl_spl.configlib import lgl_row


def get_config():
    return lgl_row("cifar100", "spl_inv")
