"""SPL-ADVisE Table 1: fashion_mnist × spld, with the paper's student and settings."""

from lgl_spl.configlib import advise_row


def get_config():
    return advise_row("fashion_mnist", "spld")
