"""LGL Table 4: the ImageNet baseline (ResNet-50; --config.model.name=vgg16 for VGG-16)."""

from lgl_spl.configlib import imagenet_student


def get_config():
    c = imagenet_student("resnet50")
    c.method.name = "random"
    return c
