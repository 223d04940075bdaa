"""LGL §5.1 toy experiment, `spl_inv`: FC-1 on the separable layout, plain SGD 0.01.

Other panels: --config.model.name=mlp3 (FC-3), --config.data.toy_layout=overlapping.
"""

from lgl_spl.configlib import set_method, toy_student


def get_config():
    return set_method(toy_student(), "spl_inv")
