"""Offline: 8×8 digits, the small LeNet, `online_easy` (online batch selection; seconds).

Each step scores 2 × the batch and trains on the lower half of the losses (Co-teaching's
keep rate of one half; at the default 10 × the batch the small-loss choice trains on the
few classes the network already predicts and ends near chance: 18.7 % after 1,500 steps,
measured 2026-12-04), after one round of uniform batches. Adam at 1e-3, as the other
online configs. On clean labels it ends well below `random` (58.8 % against 97.8 %): it
never trains on what it finds hard. Its use is label noise (configs/cpu/control.py).
"""

from lgl_spl.configlib import digits_student, online_optimiser, set_method


def get_config():
    c = online_optimiser(digits_student())
    return set_method(c, "online_easy", candidates=2 * c.train.batch_size)
