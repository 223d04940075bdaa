"""VGG-16 with batch norm, CIFAR form (LGL's student; SPL-ADVisE's embedding net)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from lgl_spl.models.common import batch_norm, conv_init, scaled

_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16(nn.Module):
    """13 conv-BN-ReLU layers with 5 max-pools, global pooling, one linear head.

    Inputs smaller than 32×32 skip pools that would shrink below 1×1.
    """

    num_classes: int
    width: float = 1.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = batch_norm(train, self.dtype)
        x = x.astype(self.dtype)
        for v in _VGG16:
            if v == "M":
                if x.shape[1] >= 2:
                    x = nn.max_pool(x, (2, 2), (2, 2))
                continue
            x = nn.Conv(
                scaled(v, self.width),
                (3, 3),
                padding="SAME",
                use_bias=False,
                kernel_init=conv_init,
                dtype=self.dtype,
            )(x)
            x = nn.relu(norm()(x))
        features = jnp.mean(x, axis=(1, 2))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(features)
        return logits.astype(jnp.float32), features.astype(jnp.float32)
