"""LGL Table 4: ImageNet, resnet50, LGL(r, 3) with the PyTorch ImageNet recipe per stage."""

from lgl_spl.configlib import imagenet_student, lgl_row


def get_config():
    return lgl_row("imagenet2012", "lgl", stages=3, student=imagenet_student("resnet50"))
