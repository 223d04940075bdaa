"""Pre-activation ResNet-18 (CIFAR form) and ResNet-50 (ImageNet form)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from lgl_spl.models.common import batch_norm, conv_init, scaled


class PreActBlock(nn.Module):
    channels: int
    stride: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = batch_norm(train, self.dtype)
        conv = lambda c, k, s, name=None: nn.Conv(
            c,
            (k, k),
            (s, s),
            padding="SAME",
            use_bias=False,
            kernel_init=conv_init,
            dtype=self.dtype,
            name=name,
        )
        out = nn.relu(norm()(x))
        shortcut = x
        if self.stride != 1 or x.shape[-1] != self.channels:
            shortcut = conv(self.channels, 1, self.stride, name="shortcut")(out)
        out = conv(self.channels, 3, self.stride)(out)
        out = conv(self.channels, 3, 1)(nn.relu(norm()(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    """3×3 stem, four stages of two pre-activation blocks (64/128/256/512 × width)."""

    num_classes: int
    width: float = 1.0
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        x = x.astype(self.dtype)
        x = nn.Conv(
            scaled(64, self.width),
            (3, 3),
            padding="SAME",
            use_bias=False,
            kernel_init=conv_init,
            dtype=self.dtype,
        )(x)
        for i, blocks in enumerate(self.stage_sizes):
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                x = PreActBlock(scaled(64 * 2**i, self.width), stride, self.dtype)(x, train=train)
        x = nn.relu(batch_norm(train, self.dtype)()(x))
        features = jnp.mean(x, axis=(1, 2))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(features)
        return logits.astype(jnp.float32), features.astype(jnp.float32)


class Bottleneck(nn.Module):
    channels: int
    stride: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = batch_norm(train, self.dtype)
        conv = lambda c, k, s: nn.Conv(
            c,
            (k, k),
            (s, s),
            padding="SAME",
            use_bias=False,
            kernel_init=conv_init,
            dtype=self.dtype,
        )
        out = nn.relu(norm()(conv(self.channels, 1, 1)(x)))
        out = nn.relu(norm()(conv(self.channels, 3, self.stride)(out)))
        # Zero-init the last BN scale: each block starts as the identity.
        out = norm(scale_init=nn.initializers.zeros)(conv(self.channels * 4, 1, 1)(out))
        if self.stride != 1 or x.shape[-1] != self.channels * 4:
            x = norm()(conv(self.channels * 4, 1, self.stride)(x))
        return nn.relu(out + x)


class ResNet50(nn.Module):
    """Bottleneck ResNet-50. ``small_inputs`` swaps the 7×7/2 stem and max-pool for a 3×3 conv."""

    num_classes: int
    width: float = 1.0
    small_inputs: bool = False
    stage_sizes: Sequence[int] = (3, 4, 6, 3)
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = batch_norm(train, self.dtype)
        x = x.astype(self.dtype)
        stem = scaled(64, self.width)
        if self.small_inputs:
            x = nn.Conv(
                stem,
                (3, 3),
                padding="SAME",
                use_bias=False,
                kernel_init=conv_init,
                dtype=self.dtype,
            )(x)
            x = nn.relu(norm()(x))
        else:
            x = nn.Conv(
                stem,
                (7, 7),
                (2, 2),
                padding=[(3, 3), (3, 3)],
                use_bias=False,
                kernel_init=conv_init,
                dtype=self.dtype,
            )(x)
            x = nn.relu(norm()(x))
            x = nn.max_pool(x, (3, 3), (2, 2), padding="SAME")
        for i, blocks in enumerate(self.stage_sizes):
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                x = Bottleneck(scaled(64 * 2**i, self.width), stride, self.dtype)(x, train=train)
        features = jnp.mean(x, axis=(1, 2))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(features)
        return logits.astype(jnp.float32), features.astype(jnp.float32)
