"""The in-memory dataset every run trains on."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Images uint8 NHWC (the toy set: float32 [N, 2]); labels int32.

    ``x_val`` / ``y_val`` are empty unless a validation split was carved from
    train. With label noise, ``y_train`` holds the noisy labels and
    ``y_train_clean`` the original ones. ``train_source`` is set for datasets read
    from disk on demand (ImageNet, a folder too large for memory): then ``x_train`` is
    empty and the loop gathers batches on the host (so do ``test_source`` and
    ``val_source`` for their splits).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    label_names: tuple[str, ...]
    name: str
    train_source: object | None = None
    test_source: object | None = None
    val_source: object | None = None
    y_train_clean: np.ndarray | None = None  # the labels before label noise (None: no noise)

    @property
    def noisy(self) -> np.ndarray | None:
        """bool [N]: which training labels the label noise flipped (None without noise)."""
        return None if self.y_train_clean is None else self.y_train != self.y_train_clean

    @property
    def num_train(self) -> int:
        return int(self.y_train.shape[0])
