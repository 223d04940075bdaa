"""SPL-ADVisE Table 1: svhn × random, with the paper's student and settings."""

from lgl_spl.configlib import advise_row


def get_config():
    return advise_row("svhn_cropped", "random")
