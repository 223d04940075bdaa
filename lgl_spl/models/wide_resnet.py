"""WideResNet-d-k with dropout (Zagoruyko & Komodakis 2016): SVHN WRN-16-8, CIFAR-100 WRN-28-10."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from lgl_spl.errors import ConfigError
from lgl_spl.models.common import batch_norm, conv_init, scaled


class WideBlock(nn.Module):
    channels: int
    stride: int
    dropout: float
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
        out = nn.relu(norm()(out))
        out = nn.Dropout(self.dropout, deterministic=not train)(out)
        out = conv(self.channels, 3, 1)(out)
        return out + shortcut


class WideResNet(nn.Module):
    """depth = 6n + 4; three stages of n blocks, 16k / 32k / 64k channels."""

    num_classes: int
    depth: int = 28
    widen: int = 10
    dropout: float = 0.3
    width: float = 1.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        if (self.depth - 4) % 6:
            raise ConfigError(f"WideResNet depth must be 6n + 4, got {self.depth}")
        n = (self.depth - 4) // 6
        x = x.astype(self.dtype)
        x = nn.Conv(
            scaled(16, self.width),
            (3, 3),
            padding="SAME",
            use_bias=False,
            kernel_init=conv_init,
            dtype=self.dtype,
        )(x)
        for i, base in enumerate((16, 32, 64)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                x = WideBlock(
                    scaled(base * self.widen, self.width), stride, self.dropout, self.dtype
                )(x, train=train)
        x = nn.relu(batch_norm(train, self.dtype)()(x))
        features = jnp.mean(x, axis=(1, 2))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(features)
        return logits.astype(jnp.float32), features.astype(jnp.float32)
