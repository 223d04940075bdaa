"""Pieces shared by the model files."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp


def scaled(channels: int, width: float) -> int:
    """Channel count under a width multiplier (small CPU runs use width < 1)."""
    return max(1, int(round(channels * width)))


def batch_norm(train: bool, dtype=jnp.float32):
    return functools.partial(
        nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype
    )


# He-normal (fan_out) for convolutions, as torchvision's ResNets and WRNs use.
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
