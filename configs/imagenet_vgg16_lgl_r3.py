"""LGL Table 4: ImageNet, VGG-16 (torchvision's), LGL(r, 3) with the PyTorch recipe per stage."""

from lgl_spl.configlib import imagenet_student, lgl_row


def get_config():
    return lgl_row("imagenet2012", "lgl", stages=3, student=imagenet_student("vgg16_imagenet"))
