"""Your own images: class folders under data.path, a small LeNet, uniform sampling.

    python -m lgl_spl.main --config configs/folder_example.py --config.data.path=DIR

DIR holds train/<class>/*.png|jpg and test/<class>/* (val/<class>/* optional); classes
are the sorted folder names. Any method: --config.method.name=spl (its defaults).
"""

from lgl_spl.configlib import base_config, set_method


def get_config():
    c = base_config()
    c.data.name = "folder"
    c.data.path = "images"  # relative to where the command runs; --config.data.path=DIR
    c.data.image_size = 32  # every image resized to 32 × 32
    c.data.augment = "crop_flip"  # random 4-pixel shifts and horizontal flips, on the device
    c.model.name = "lenet"
    c.train.batch_size = 64
    c.train.num_epochs = 30.0
    c.train.eval_every_epochs = 1.0
    c.train.log_every = 50
    c.train.learning_rate = 0.05
    c.train.lr_schedule = "cosine"
    return set_method(c, "random")
