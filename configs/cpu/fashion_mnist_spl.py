"""Fashion-MNIST on a CPU, `spl`: a small LeNet, 4,000 examples, 8 epochs (docs/results/).

Needs local arrays: --config.data.npz_path=PATH/fashion_mnist.npz
"""

from lgl_spl.configlib import cpu_row


def get_config():
    return cpu_row("fashion_mnist", "spl")
