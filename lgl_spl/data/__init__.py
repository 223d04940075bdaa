"""Datasets (tfds, npz, digits, toy, class folders), loaded once into arrays or read on the
host, and on-device augmentation."""

from lgl_spl.data.augment import (
    AUGMENT_CHOICES,
    AugmentSpec,
    augment,
    default_augment,
    host_augment,
    normalisation_of,
)
from lgl_spl.data.dataset import Dataset
from lgl_spl.data.input_pipeline import BatchStream, HostInput, InputOptions, InputPipelineError
from lgl_spl.data.pipeline import KNOWN_DATASETS, NOISE_KINDS, add_label_noise, load
from lgl_spl.data.random_access import RandomAccessSource

__all__ = [
    "AUGMENT_CHOICES",
    "KNOWN_DATASETS",
    "NOISE_KINDS",
    "AugmentSpec",
    "BatchStream",
    "Dataset",
    "HostInput",
    "InputOptions",
    "InputPipelineError",
    "RandomAccessSource",
    "add_label_noise",
    "augment",
    "default_augment",
    "host_augment",
    "normalisation_of",
    "load",
]
