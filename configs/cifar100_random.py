"""SPL-ADVisE Table 1, cifar100: the random-sampling baseline with the paper's student."""

from lgl_spl.configlib import advise_student


def get_config():
    c = advise_student("cifar100")
    c.method.name = "random"
    return c
