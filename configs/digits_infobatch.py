"""InfoBatch (dynamic pruning) on the digits student, offline in seconds.

The paper's settings: each pass leaves out half of the examples whose last training loss
is below the mean (`method.prune_ratio` 0.5) and rescales the ones kept; the last eighth of
the passes trains on all data (`method.anneal` 0.875). The same passes as
configs/digits_random.py, so fewer updates.
"""

from lgl_spl.configlib import digits_student, set_method


def get_config():
    return set_method(digits_student(), "infobatch")
