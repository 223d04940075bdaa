"""Pieces shared by the model files."""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def scaled(channels: int, width: float) -> int:
    """Channel count under a width multiplier (small CPU runs use width < 1)."""
    return max(1, int(round(channels * width)))


def batch_norm(train: bool, dtype=jnp.float32):
    # Flax reduces the batch statistics in float32 (force_float32_reductions) whatever
    # ``dtype`` is, so bfloat16 compute keeps float32 means and variances.
    return functools.partial(
        nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype
    )


# He-normal (fan_out) for convolutions, as torchvision's ResNets, VGGs and WRNs use
# (kaiming_normal_, mode="fan_out", nonlinearity="relu"; untruncated).
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")

# PyTorch's default nn.Linear weight init, kaiming_uniform_(a=√5): U(±1/√fan_in).
torch_linear_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_linear_bias_init(fan_in: int):
    """PyTorch's default nn.Linear bias init: U(±1/√fan_in) (the bias alone cannot see fan_in)."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def torch_dense(features: int, fan_in: int, **kwargs) -> nn.Dense:
    """An nn.Dense initialised as a freshly built torch.nn.Linear."""
    return nn.Dense(
        features,
        kernel_init=torch_linear_kernel_init,
        bias_init=torch_linear_bias_init(fan_in),
        **kwargs,
    )
