"""LGL Table 4: the ImageNet baseline with ResNet-50 (torchvision's, its init of the time)."""

from lgl_spl.configlib import imagenet_student, set_method


def get_config():
    return set_method(imagenet_student("resnet50"), "random")
