"""LGL Table 4: the ImageNet baseline with VGG-16 (torchvision's: no BN, FC 4096-4096)."""

from lgl_spl.configlib import imagenet_student, set_method


def get_config():
    return set_method(imagenet_student("vgg16_imagenet"), "random")
