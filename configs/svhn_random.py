"""SPL-ADVisE Table 1, SVHN (train + extra, no augmentation): the random-sampling baseline."""

from lgl_spl.configlib import advise_student


def get_config():
    c = advise_student("svhn_cropped")
    c.method.name = "random"
    return c
