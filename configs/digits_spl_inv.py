"""Offline: digits with `spl_inv` (docs/design.md §4), same student and updates as random."""

from lgl_spl.configlib import digits_student, set_method


def get_config():
    return set_method(digits_student(), "spl_inv")
