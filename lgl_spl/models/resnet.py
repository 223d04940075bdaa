"""ResNets: CIFAR ResNet-18 (post- and pre-activation) and ImageNet ResNet-50.

* ``ResNet18``: He et al. 2016's post-activation ResNet-18 in its usual CIFAR form,
  SPL-ADVisE's student on CIFAR-10 and Fashion-MNIST (§4).
* ``PreActResNet18``: the pre-activation variant (He et al. 2016b), kept for comparison.
* ``ResNet50``: torchvision's ResNet-50 (v1.5: stride on the 3×3 conv), LGL's ImageNet
  student (§5.4, Table 4), initialised as torchvision did; ``zero_init_residual`` gives
  the zero-γ variant (Goyal et al. 2017) that later recipes use.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from lgl_spl.models.common import batch_norm, conv_init, scaled, torch_dense


def _conv(channels: int, kernel: int, stride: int, dtype, name=None) -> nn.Conv:
    """Bias-free conv with PyTorch's symmetric ``kernel // 2`` padding.

    'SAME' would pad a stride-2 3×3 conv (0, 1) on even inputs where PyTorch pads (1, 1):
    the same output size, but the sampling grid is shifted by a pixel.
    """
    pad = kernel // 2
    return nn.Conv(
        channels,
        (kernel, kernel),
        (stride, stride),
        padding=[(pad, pad), (pad, pad)],
        use_bias=False,
        kernel_init=conv_init,
        dtype=dtype,
        name=name,
    )


class BasicBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN, plus the shortcut (1×1 conv + BN on a shape change), ReLU."""

    channels: int
    stride: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = batch_norm(train, self.dtype)
        out = nn.relu(norm()(_conv(self.channels, 3, self.stride, self.dtype)(x)))
        out = norm()(_conv(self.channels, 3, 1, self.dtype)(out))
        if self.stride != 1 or x.shape[-1] != self.channels:
            x = norm()(_conv(self.channels, 1, self.stride, self.dtype)(x))
        return nn.relu(out + x)


class ResNet18(nn.Module):
    """Post-activation CIFAR ResNet-18 (He et al. 2016; SPL-ADVisE §4's student).

    3×3 stem conv + BN + ReLU (no max-pool), four stages of two BasicBlocks
    (64/128/256/512 × width, stride 2 entering stages 2-4), global average pool,
    linear ``head``. 11,173,962 parameters at 10 classes. Convs He-normal (fan_out),
    the head PyTorch's default Linear init (the paper trained in PyTorch).
    ``features`` is the pooled 512-d (× width) vector.
    """

    num_classes: int
    width: float = 1.0
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        x = x.astype(self.dtype)
        x = _conv(scaled(64, self.width), 3, 1, self.dtype)(x)
        x = nn.relu(batch_norm(train, self.dtype)()(x))
        for i, blocks in enumerate(self.stage_sizes):
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                x = BasicBlock(scaled(64 * 2**i, self.width), stride, self.dtype)(x, train=train)
        features = jnp.mean(x, axis=(1, 2))
        logits = torch_dense(self.num_classes, features.shape[-1], dtype=self.dtype, name="head")(
            features
        )
        return logits.astype(jnp.float32), features.astype(jnp.float32)


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
    """Pre-activation ResNet-18 (He et al. 2016b), CIFAR form: 3×3 stem, four stages of
    two pre-activation blocks (64/128/256/512 × width), BN-ReLU, global pool, head."""

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
    """torchvision's v1.5 bottleneck: 1×1, 3×3 (carries the stride), 1×1 ×4, each with BN."""

    channels: int
    stride: int
    zero_init_residual: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = batch_norm(train, self.dtype)
        out = nn.relu(norm()(_conv(self.channels, 1, 1, self.dtype)(x)))
        out = nn.relu(norm()(_conv(self.channels, 3, self.stride, self.dtype)(out)))
        # zero_init_residual: the last BN's γ starts at 0, so each block starts as the
        # identity (Goyal et al. 2017). LGL's reference network leaves it at 1.
        last_scale = nn.initializers.zeros if self.zero_init_residual else nn.initializers.ones
        out = norm(scale_init=last_scale)(_conv(self.channels * 4, 1, 1, self.dtype)(out))
        if self.stride != 1 or x.shape[-1] != self.channels * 4:
            x = norm()(_conv(self.channels * 4, 1, self.stride, self.dtype)(x))
        return nn.relu(out + x)


class ResNet50(nn.Module):
    """torchvision's ResNet-50, as LGL trained it on ImageNet (§5.4, Table 4).

    7×7/2 stem + BN + ReLU + 3×3/2 max-pool, bottleneck stages of 3/4/6/3 blocks
    (64/128/256/512 × width, ×4 out), global average pool, linear ``head``;
    25,557,032 parameters at 1000 classes. Initialised as torchvision did when the
    paper ran: convs He-normal (fan_out), every BN γ=1 and β=0, the head PyTorch's
    default Linear init. ``zero_init_residual`` zeroes each block's last γ instead;
    ``small_inputs`` swaps the stem and max-pool for a 3×3 conv.
    """

    num_classes: int
    width: float = 1.0
    small_inputs: bool = False
    zero_init_residual: bool = False
    stage_sizes: Sequence[int] = (3, 4, 6, 3)
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = batch_norm(train, self.dtype)
        x = x.astype(self.dtype)
        stem = scaled(64, self.width)
        if self.small_inputs:
            x = nn.relu(norm()(_conv(stem, 3, 1, self.dtype)(x)))
        else:
            x = nn.relu(norm()(_conv(stem, 7, 2, self.dtype)(x)))
            # PyTorch pads the max-pool (1, 1) with -inf; flax's max_pool pads with -inf too.
            x = nn.max_pool(x, (3, 3), (2, 2), padding=[(1, 1), (1, 1)])
        for i, blocks in enumerate(self.stage_sizes):
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                x = Bottleneck(
                    scaled(64 * 2**i, self.width), stride, self.zero_init_residual, self.dtype
                )(x, train=train)
        features = jnp.mean(x, axis=(1, 2))
        logits = torch_dense(self.num_classes, features.shape[-1], dtype=self.dtype, name="head")(
            features
        )
        return logits.astype(jnp.float32), features.astype(jnp.float32)
