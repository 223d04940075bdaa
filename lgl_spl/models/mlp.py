"""Fully connected nets with one or three hidden layers (LGL's toy experiment: FC-1, FC-3)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from lgl_spl.models.common import scaled


class MLP(nn.Module):
    num_classes: int
    hidden_layers: int = 1
    hidden: int = 32
    width: float = 1.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        del train
        x = x.reshape(x.shape[0], -1).astype(self.dtype)
        for _ in range(self.hidden_layers):
            x = nn.relu(nn.Dense(scaled(self.hidden, self.width), dtype=self.dtype)(x))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x)
        return logits.astype(jnp.float32), x.astype(jnp.float32)
