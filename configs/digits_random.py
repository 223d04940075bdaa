"""Offline: scikit-learn's 8×8 digits, a small LeNet, uniform sampling (seconds on a CPU)."""

from lgl_spl.configlib import digits_student, set_method


def get_config():
    return set_method(digits_student(), "random")
