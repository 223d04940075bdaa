"""Static data pruning (EL2N) on the digits student, offline in about a minute.

Ten copies of the student each train a tenth of the student's passes; every example is
scored by its mean EL2N; the hardest 70 % are kept and a fresh student trains on them for
`random`'s updates (docs/design.md §4 says why these defaults).
"""

from lgl_spl.configlib import digits_student, set_method


def get_config():
    return set_method(digits_student(), "prune")
