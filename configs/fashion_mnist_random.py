"""SPL-ADVisE Table 1, fashion_mnist: the random-sampling baseline with the paper's student."""

from lgl_spl.configlib import advise_student


def get_config():
    c = advise_student("fashion_mnist")
    c.method.name = "random"
    return c
