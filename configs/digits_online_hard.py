"""Offline: 8×8 digits, the small LeNet, `online_hard` (online batch selection; seconds)."""

from lgl_spl.configlib import digits_student, set_method


def get_config():
    return set_method(digits_student(), "online_hard")
