"""Modules a user might bring (named ``tests.models.own_models:Name`` in model.name)."""

import flax.linen as nn


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
