"""CIFAR-10 on a CPU, `lgl_s3`: a small LeNet, 4,000 examples, 8 epochs (docs/results/).

Needs local arrays: --config.data.npz_path=PATH/cifar10.npz (CIFAR-10 JPEG q75 decoded here).
"""

from lgl_spl.configlib import cpu_row


def get_config():
    return cpu_row("cifar10", "lgl_s3")
