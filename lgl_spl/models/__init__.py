"""Flax Linen students and embedding nets: ``get_model(name, num_classes=…, width=…)``."""

from lgl_spl.models.heads import classifier_path, reinit_classes
from lgl_spl.models.lenet import LeNet
from lgl_spl.models.mlp import MLP
from lgl_spl.models.registry import (
    EMBEDDING_MODELS,
    MODELS,
    check_model_name,
    get_model,
    head_init,
    init_variables,
)
from lgl_spl.models.resnet import PreActResNet18, ResNet18, ResNet50
from lgl_spl.models.vgg import VGG16, VGG16ImageNet
from lgl_spl.models.wide_resnet import WideResNet

__all__ = [
    "EMBEDDING_MODELS",
    "LeNet",
    "MLP",
    "MODELS",
    "PreActResNet18",
    "ResNet18",
    "ResNet50",
    "VGG16",
    "VGG16ImageNet",
    "WideResNet",
    "check_model_name",
    "classifier_path",
    "get_model",
    "head_init",
    "init_variables",
    "reinit_classes",
]
