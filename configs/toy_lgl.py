"""LGL §5.1 toy experiment, `lgl`: 2 classes first, then the third; FC-1, separable layout.

Other panels: --config.model.name=mlp3 (FC-3), --config.data.toy_layout=overlapping.
The toy figure compares loss curves at equal iterations, so the budget is `fair`.
"""

from lgl_spl.configlib import set_method, toy_student


def get_config():
    return set_method(toy_student(), "lgl", num_stages=2, order="random", budget="fair")
