"""Offline: digits with SPL-ADVisE: a LeNet embedding net (Magnet loss) trained interleaved."""

from lgl_spl.configlib import digits_student, set_method


def get_config():
    c = set_method(digits_student(), "advise")
    c.method.embed_steps = 750  # one embedding step every 2 student steps
    c.method.student_steps_per_embed_step = 2
    c.method.refresh_every = 25  # refresh while the pace still selects a subset (≈ 9 rounds)
    c.method.embed_lr = 1e-3
    return c
