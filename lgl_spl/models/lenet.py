"""LeNet-5 style CNN, and its embedding-head variant (SPL-ADVisE's Fashion-MNIST embedding net)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from lgl_spl.models.common import scaled


class LeNet(nn.Module):
    """conv6-pool-conv16-pool-fc120-fc84-head. 'SAME' padding so 8×8 digits fit too.

    ``features`` is the 84-d (×width) representation before the head; the head
    has ``num_classes`` outputs (an embedding of that size for ``lenet_embed``).
    """

    num_classes: int
    width: float = 1.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        del train  # no BatchNorm or dropout
        w = self.width
        x = x.astype(self.dtype)
        x = nn.relu(nn.Conv(scaled(6, w), (5, 5), padding="SAME", dtype=self.dtype)(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = nn.relu(nn.Conv(scaled(16, w), (5, 5), padding="SAME", dtype=self.dtype)(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(scaled(120, w), dtype=self.dtype)(x))
        features = nn.relu(nn.Dense(scaled(84, w), dtype=self.dtype)(x))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(features)
        return logits.astype(jnp.float32), features.astype(jnp.float32)
