"""On-device augmentation, inside the jitted step: normalise, crop, flip, rotate, translate.

ImageNet is the exception: its crops and flips are made on the host (`host_augment`).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class AugmentSpec:
    """Static (hashable) description of one dataset's augmentation; means/stds in [0, 1] units."""

    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    crop_padding: int = 0
    hflip: bool = False
    vflip: bool = False
    max_rotate_deg: float = 0.0
    max_translate: int = 0

    @property
    def is_identity(self) -> bool:
        return not (
            self.crop_padding
            or self.hflip
            or self.vflip
            or self.max_rotate_deg
            or self.max_translate
        )


_CIFAR10 = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
_CIFAR100 = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
_SVHN = ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970))
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

_DEFAULTS = {
    # SPL-ADVisE §4: normalisation, random crop and horizontal flip.
    "cifar10": AugmentSpec(*_CIFAR10, crop_padding=4, hflip=True),
    # SPL-ADVisE trains CIFAR-100 and SVHN without augmentation.
    "cifar100": AugmentSpec(*_CIFAR100),
    "svhn_cropped": AugmentSpec(*_SVHN),
    # SPL-ADVisE: normalisation, h/v flips, translation, crop and rotation.
    "fashion_mnist": AugmentSpec(
        (0.2860,),
        (0.3530,),
        crop_padding=2,
        hflip=True,
        vflip=True,
        max_rotate_deg=10.0,
        max_translate=2,
    ),
    "mnist": AugmentSpec((0.1307,), (0.3081,)),
    "digits": AugmentSpec((0.3,), (0.35,)),
    # The official PyTorch ImageNet recipe LGL follows (§5.4): its random-resized crops and
    # flips are made on the host as images are decoded (see `host_augment`); the device only
    # normalises, so nothing is applied twice.
    "imagenet2012": AugmentSpec(*_IMAGENET),
    "toy": AugmentSpec(),
}


AUGMENT_CHOICES = ("default", "none", "crop_flip")

# Datasets decoded on the host whose default training transforms (crops, flips) run there,
# in `lgl_spl.data.imagenet_transforms`, rather than in the jitted step.
_HOST_AUGMENTED = ("imagenet2012",)


def normalisation_of(x: np.ndarray, mean=None, std=None) -> AugmentSpec:
    """No augmentation, normalised by ``mean``/``std`` (in [0, 1] units): by default uint8
    images' own per-channel statistics; float arrays as they are."""
    if mean is None or std is None:
        if x.dtype == np.uint8:
            pixels = x.reshape(-1, x.shape[-1]).astype(np.float64) / 255.0
            mean = pixels.mean(0) if mean is None else mean
            std = np.maximum(pixels.std(0), 1e-3) if std is None else std
        else:
            mean, std = (0.0,), (1.0,)
    return AugmentSpec(
        mean=tuple(float(v) for v in np.ravel(mean)), std=tuple(float(v) for v in np.ravel(std))
    )


def default_augment(name: str, choice: str | bool = "default") -> AugmentSpec:
    """Dataset ``name``'s augmentation: the paper's (``default``), ``none`` or ``crop_flip``.

    Normalisation always applies (its statistics are the dataset's own).
    """
    spec = _DEFAULTS.get(name, AugmentSpec((0.5,), (0.25,)))
    choice = {True: "default", False: "none"}.get(choice, choice)
    if choice == "default":
        return spec
    if choice == "none":
        return AugmentSpec(mean=spec.mean, std=spec.std)
    if choice == "crop_flip":  # the CIFAR recipe LGL uses on both CIFARs
        return AugmentSpec(mean=spec.mean, std=spec.std, crop_padding=4, hflip=True)
    raise ValueError(f"data.augment must be one of {AUGMENT_CHOICES}, got {choice!r}")


def host_augment(name: str, choice: str | bool = "default") -> bool:
    """Whether the host makes ``name``'s random training transforms (ImageNet's crops, flips).

    Only with the paper's augmentation (``default``); ``none`` and ``crop_flip`` leave the
    host to the evaluation transform and the device to what `default_augment` returns.
    """
    choice = {True: "default", False: "none"}.get(choice, choice)
    return name in _HOST_AUGMENTED and choice == "default"


def _shift(img: jax.Array, dy: jax.Array, dx: jax.Array, pad: int) -> jax.Array:
    """Zero-padded translation by (dy, dx) pixels, |d| ≤ pad (== pad-and-random-crop)."""
    h, w, _ = img.shape
    padded = jnp.pad(img, ((pad, pad), (pad, pad), (0, 0)))
    return jax.lax.dynamic_slice(padded, (pad + dy, pad + dx, 0), img.shape[:2] + img.shape[2:])


def _rotate(img: jax.Array, angle: jax.Array) -> jax.Array:
    """Bilinear rotation about the centre, zeros outside."""
    h, w, c = img.shape
    yy, xx = jnp.meshgrid(
        jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
    )
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    src_y = cos * (yy - cy) - sin * (xx - cx) + cy
    src_x = sin * (yy - cy) + cos * (xx - cx) + cx
    channels = [
        jax.scipy.ndimage.map_coordinates(img[..., i], [src_y, src_x], order=1, cval=0.0)
        for i in range(c)
    ]
    return jnp.stack(channels, axis=-1)


def _augment_one(key: jax.Array, img: jax.Array, spec: AugmentSpec) -> jax.Array:
    k_crop, k_h, k_v, k_rot, k_tr = jax.random.split(key, 5)
    if spec.max_rotate_deg:
        angle = jax.random.uniform(k_rot, (), minval=-1.0, maxval=1.0) * spec.max_rotate_deg
        img = _rotate(img, jnp.deg2rad(angle))
    for pad, k in ((spec.crop_padding, k_crop), (spec.max_translate, k_tr)):
        if pad:
            dy, dx = jax.random.randint(k, (2,), -pad, pad + 1)
            img = _shift(img, dy, dx, pad)
    if spec.hflip:
        img = jnp.where(jax.random.bernoulli(k_h), img[:, ::-1], img)
    if spec.vflip:
        img = jnp.where(jax.random.bernoulli(k_v), img[::-1], img)
    return img


@functools.partial(jax.jit, static_argnames=("spec", "train"))
def augment(key: jax.Array, images: jax.Array, spec: AugmentSpec, *, train: bool) -> jax.Array:
    """uint8 [B, H, W, C] → normalised float32; random transforms only when ``train``.

    Float inputs (the toy set's 2-D points) are returned unchanged as float32.
    """
    if jnp.issubdtype(images.dtype, jnp.floating):
        return images.astype(jnp.float32)
    x = images.astype(jnp.float32) / 255.0
    if train and not spec.is_identity:
        keys = jax.random.split(key, x.shape[0])
        x = jax.vmap(lambda k, im: _augment_one(k, im, spec))(keys, x)
    mean = jnp.asarray(spec.mean, jnp.float32)
    std = jnp.asarray(spec.std, jnp.float32)
    return (x - mean) / std
