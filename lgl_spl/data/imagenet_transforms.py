"""Host-side ImageNet transforms (Pillow + numpy): the standard PyTorch recipe LGL §5.4 uses.

- train: RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3)) with torchvision's rule
  (10 attempts, then a centre crop), bilinear; then a horizontal flip with probability 1/2;
- eval: the shorter side resized to ``size · 256/224`` (256 at 224), bilinear; centre crop.

Both return uint8 [size, size, 3]; normalisation happens on the device. The randomness of
a training example is a pure function of (seed, global step, position in the global
batch), so any worker, in any order, and a resumed run produce the same crops.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
from PIL import Image

SCALE = (0.08, 1.0)
RATIO = (3.0 / 4.0, 4.0 / 3.0)
_ATTEMPTS = 10
# Keeps these streams apart from any other use of np.random.default_rng([seed, ...]).
_STREAM_TAG = 0x1A6E


def decode(image) -> Image.Image:
    """An RGB ``PIL.Image`` from JPEG/PNG bytes or a decoded uint8 array (mock sources)."""
    if isinstance(image, bytes | bytearray | memoryview):
        img = Image.open(io.BytesIO(image))
    else:
        arr = np.asarray(image, np.uint8)
        img = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr)
    # ImageNet holds some greyscale and CMYK JPEGs; the network sees 3 channels.
    return img if img.mode == "RGB" else img.convert("RGB")


def example_rng(seed: int, step: int, position: int) -> np.random.Generator:
    """The generator of one training example: a pure function of its three coordinates."""
    return np.random.default_rng([_STREAM_TAG, int(seed), int(step), int(position)])


def random_resized_crop_box(
    rng: np.random.Generator,
    height: int,
    width: int,
    scale: tuple[float, float] = SCALE,
    ratio: tuple[float, float] = RATIO,
) -> tuple[int, int, int, int]:
    """(top, left, crop_height, crop_width) by torchvision's RandomResizedCrop rule.

    Up to 10 draws of an area fraction (uniform in ``scale``) and an aspect ratio
    (log-uniform in ``ratio``); the first that fits is placed uniformly. If none fits,
    the largest centred crop whose aspect ratio lies in ``ratio``.
    """
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(_ATTEMPTS):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def train_transform(image, rng: np.random.Generator, size: int = 224) -> np.ndarray:
    """RandomResizedCrop(size) + random horizontal flip: uint8 [size, size, 3]."""
    img = decode(image)
    top, left, h, w = random_resized_crop_box(rng, img.height, img.width)
    # Crop first, then resize: the filter then never reaches outside the crop (torchvision).
    img = img.crop((left, top, left + w, top + h)).resize((size, size), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(img, np.uint8)


def eval_resize(size: int) -> int:
    """The shorter side before the centre crop: 256 for 224 (the 0.875 crop ratio)."""
    return int(round(size * 256 / 224))


def eval_transform(image, size: int = 224) -> np.ndarray:
    """Shorter side to ``eval_resize(size)`` (bilinear), centre crop ``size``: uint8."""
    img = decode(image)
    resize = eval_resize(size)
    w, h = img.size
    if w <= h:
        new_w, new_h = resize, int(resize * h / w)
    else:
        new_w, new_h = int(resize * w / h), resize
    img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return np.asarray(img.crop((left, top, left + size, top + size)), np.uint8)


@dataclasses.dataclass(frozen=True)
class Transform:
    """One of the two transforms, bound to its size and (for training) the run's seed."""

    size: int = 224
    train: bool = False
    seed: int = 0

    def __call__(self, image, step: int = 0, position: int = 0) -> np.ndarray:
        if self.train:
            return train_transform(image, example_rng(self.seed, step, position), self.size)
        return eval_transform(image, self.size)
