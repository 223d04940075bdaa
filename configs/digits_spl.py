"""Offline: digits with `spl` (docs/design.md §4 pace rule), same student and updates as random."""

from lgl_spl.configlib import digits_student, set_method


def get_config():
    return set_method(digits_student(), "spl")
