"""Modules a user might bring (named ``tests.models.own_models:Name`` in model.name)."""

import flax.linen as nn
from flax import nnx


class Tiny(nn.Module):
    """Logits only: its logits are its features."""

    num_classes: int

    @nn.compact
    def __call__(self, x, train):
        x = x.reshape(x.shape[0], -1).astype("float32")
        x = nn.relu(nn.Dense(24)(x))
        return nn.Dense(self.num_classes)(x)


class TinyPair(nn.Module):
    """(logits, features), with BatchNorm and a width, as the project's own models."""

    num_classes: int
    width: float = 1.0

    @nn.compact
    def __call__(self, x, *, train: bool):
        x = nn.Conv(max(1, int(8 * self.width)), (3, 3))(x.astype("float32"))
        x = nn.BatchNorm(use_running_average=not train)(x)
        features = nn.relu(x).mean(axis=(1, 2))
        return nn.Dense(self.num_classes)(features), features


class ThreeOutputs(Tiny):
    def __call__(self, x, train):
        logits = super().__call__(x, train)
        return logits, logits, logits


class WrongWidth(nn.Module):
    num_classes: int

    @nn.compact
    def __call__(self, x, train):
        return nn.Dense(self.num_classes + 1)(x.reshape(x.shape[0], -1))


class NoClasses(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        return x


class NoTrain(nn.Module):
    num_classes: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


NOT_A_MODULE = 3


class WholeWidth(nn.Module):
    """``width: int``: a count of units, given as an int."""

    num_classes: int
    width: int = 1

    @nn.compact
    def __call__(self, x, train):
        assert isinstance(self.width, int), type(self.width)  # jnp.zeros needs an int
        hidden = nn.Dense(16 * self.width)(x.reshape(x.shape[0], -1))
        return nn.Dense(self.num_classes)(hidden)


class RaisesInCall(Tiny):
    """Initialises (in eval mode), then fails in its first training step."""

    def __call__(self, x, train):
        if train:
            raise ValueError("the model is unhappy")
        return super().__call__(x, train)


class RaisesInSetup(nn.Module):
    num_classes: int

    def setup(self):
        raise RuntimeError("no layers today")

    def __call__(self, x, train):
        return x


# Flax NNX: constructed as Name(num_classes, *, rngs, [width], [dtype]).


class NNXNet(nnx.Module):
    """BatchNorm and Dropout, ``__call__(x)`` without ``train``: the mode is set for it."""

    def __init__(self, num_classes: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, 32, rngs=rngs)
        self.norm = nnx.BatchNorm(32, rngs=rngs)
        self.dropout = nnx.Dropout(0.25, rngs=rngs)
        self.head = nnx.Linear(32, num_classes, rngs=rngs)

    def __call__(self, x):
        features = nnx.relu(self.norm(self.hidden(x.reshape(x.shape[0], -1))))
        return self.head(self.dropout(features)), features


class NNXTrain(nnx.Module):
    """``__call__(x, train)``, with a width and a dtype."""

    def __init__(self, num_classes, *, rngs, width: float = 1.0, dtype=None):
        self.hidden = nnx.Linear(64, max(1, int(32 * width)), dtype=dtype, rngs=rngs)
        self.norm = nnx.BatchNorm(max(1, int(32 * width)), dtype=dtype, rngs=rngs)
        self.dropout = nnx.Dropout(0.25, rngs=rngs)
        self.head = nnx.Linear(max(1, int(32 * width)), num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, x, train: bool):
        x = self.hidden(x.reshape(x.shape[0], -1))
        x = nnx.relu(self.norm(x, use_running_average=not train))
        return self.head(self.dropout(x, deterministic=not train))


class NNXWholeWidth(nnx.Module):
    """``width: int``."""

    def __init__(self, num_classes: int, *, width: int, rngs: nnx.Rngs):
        assert isinstance(width, int), type(width)
        self.hidden = nnx.Linear(64, 16 * width, rngs=rngs)
        self.head = nnx.Linear(16 * width, num_classes, rngs=rngs)

    def __call__(self, x):
        return self.head(nnx.relu(self.hidden(x.reshape(x.shape[0], -1))))


class NNXNoClasses(nnx.Module):
    def __init__(self, *, rngs):
        self.head = nnx.Linear(64, 10, rngs=rngs)

    def __call__(self, x):
        return self.head(x.reshape(x.shape[0], -1))


class NNXTwoInputs(NNXNet):
    def __call__(self, x, y):
        return super().__call__(x)


class NNXThreeOutputs(NNXNet):
    def __call__(self, x):
        logits, features = super().__call__(x)
        return logits, features, features


class NNXRaisesInCall(NNXNet):
    def __call__(self, x, train):
        if train:
            raise ValueError("the NNX model is unhappy")
        return super().__call__(x)


class NNXRaisesInInit(nnx.Module):
    def __init__(self, num_classes, *, rngs):
        raise KeyError("no such layer")

    def __call__(self, x):
        return x
