"""VGG-16 (Simonyan & Zisserman 2015, configuration D) in two forms.

* ``VGG16``: CIFAR form with batch norm and global pooling: LGL's CIFAR student
  (§5.2) and SPL-ADVisE's embedding net (§4).
* ``VGG16ImageNet``: the ImageNet network as torchvision builds it (no BN, conv biases,
  7×7 adaptive average pool, two 4096-unit FC layers with dropout): LGL's ImageNet
  student (§5.4, Table 4).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lgl_spl.errors import ConfigError
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


@functools.cache
def _pool_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) averaging weights; cell i covers [⌊i·n/m⌋, ⌈(i+1)·n/m⌉)."""
    m = np.zeros((size_out, size_in), np.float32)
    for i in range(size_out):
        start = (i * size_in) // size_out
        end = -(-((i + 1) * size_in) // size_out)
        m[i, start:end] = 1.0 / (end - start)
    m.flags.writeable = False  # cached and shared between calls
    return m


def adaptive_avg_pool(x: jax.Array, output_size: tuple[int, int]) -> jax.Array:
    """NHWC average pooling onto a fixed grid, cut as torch's AdaptiveAvgPool2d cuts it.

    Shapes are static, so the pool is two small matmuls with constant averaging
    matrices; a map smaller than the grid repeats its cells, as PyTorch's does.
    """
    h, w = x.shape[1:3]
    if (h, w) == tuple(output_size):
        return x
    ph = _pool_matrix(h, output_size[0])
    pw = _pool_matrix(w, output_size[1])
    # float32 at full precision: the averages are exact whatever the compute dtype is.
    y = jnp.einsum(
        "ih,jw,nhwc->nijc",
        ph,
        pw,
        x.astype(jnp.float32),
        precision=jax.lax.Precision.HIGHEST,
    )
    return y.astype(x.dtype)


class VGG16ImageNet(nn.Module):
    """ImageNet VGG-16 as torchvision builds it: LGL's VGG-16 on ImageNet (§5.4).

    13 conv3×3 (with bias, no BN)-ReLU layers and 5 max-pools, a 7×7 adaptive average
    pool (so inputs other than 224 work), then FC 4096-ReLU-dropout-FC 4096-ReLU-
    dropout-``head``; 138,357,544 parameters at 1000 classes. ``width`` scales the
    convs and the 4096 units. torchvision's init: convs He-normal (fan_out), linear
    N(0, 0.01), biases 0. ``features`` is the second 4096-d activation (before dropout).
    """

    num_classes: int
    width: float = 1.0
    dropout: float = 0.5
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        x = x.astype(self.dtype)
        for v in _VGG16:
            if v == "M":
                if min(x.shape[1:3]) < 2:
                    raise ConfigError(
                        f"vgg16_imagenet halves its input 5 times; {x.shape[1:3]} is too small "
                        "before a pool (use inputs of at least 32×32)"
                    )
                x = nn.max_pool(x, (2, 2), (2, 2))
                continue
            x = nn.Conv(
                scaled(v, self.width),
                (3, 3),
                padding=[(1, 1), (1, 1)],
                kernel_init=conv_init,
                bias_init=nn.initializers.zeros,
                dtype=self.dtype,
            )(x)
            x = nn.relu(x)
        x = adaptive_avg_pool(x, (7, 7))
        # Flattened (h, w, c) where torch flattens (c, h, w): the same layer up to a
        # permutation of the first FC's input rows.
        x = x.reshape(x.shape[0], -1)
        dense = functools.partial(
            nn.Dense,
            kernel_init=nn.initializers.normal(0.01),
            bias_init=nn.initializers.zeros,
            dtype=self.dtype,
        )
        hidden = scaled(4096, self.width)
        x = nn.relu(dense(hidden)(x))
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        features = nn.relu(dense(hidden)(x))
        x = nn.Dropout(self.dropout, deterministic=not train)(features)
        logits = dense(self.num_classes, name="head")(x)
        return logits.astype(jnp.float32), features.astype(jnp.float32)
