"""SuperLoss (loss reweighting) on the digits student, offline in seconds.

`random`'s data order; every example's loss reweighted by SuperLoss's closed-form
confidence, τ a running mean of the training loss and λ = 1 (docs/design.md §4 says why
these defaults).
"""

from lgl_spl.configlib import digits_student, set_method


def get_config():
    return set_method(digits_student(), "superloss")
