"""LGL Table 4: the ImageNet baseline with VGG-16 (BN, global pooling; see docs)."""

from lgl_spl.configlib import imagenet_student, set_method


def get_config():
    return set_method(imagenet_student("vgg16"), "random")
