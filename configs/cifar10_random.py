"""SPL-ADVisE Table 1, cifar10: the random-sampling baseline with the paper's student."""

from lgl_spl.configlib import advise_student


def get_config():
    c = advise_student("cifar10")
    c.method.name = "random"
    return c
