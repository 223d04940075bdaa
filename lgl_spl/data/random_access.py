"""A host-side random-access reader for datasets that cannot sit in memory (ImageNet).

The same index arrays that drive in-memory datasets drive ``gather``: the loop
asks for a batch of indices, this decodes (tfds already decodes) and resizes
those images on the host, and the batch goes to the devices.
"""

from __future__ import annotations

import numpy as np

from lgl_spl.data.sources import fetch, tfds_source


def _center_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square, then nearest-neighbour resize to size × size."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = img[top : top + side, left : left + side]
    idx = (np.arange(size) * side / size).astype(np.int64)
    img = img[idx][:, idx]
    return img if img.ndim == 3 else img[..., None]


class RandomAccessSource:
    """Random access by index to a tfds ``data_source``, with labels read once."""

    def __init__(
        self,
        name: str,
        split: str,
        *,
        data_dir: str = "",
        image_size: int = 224,
        _source=None,
        _index: np.ndarray | None = None,
    ):
        self.name = name
        self.split = split
        self.image_size = image_size
        self._source = _source if _source is not None else tfds_source(name, split, data_dir)
        self._index = np.arange(len(self._source)) if _index is None else _index
        self.labels = self._read_labels()
        try:
            self.label_names = tuple(self._source.dataset_info.features["label"].names)
        except (AttributeError, KeyError, TypeError):
            self.label_names = tuple(str(i) for i in range(int(self.labels.max()) + 1))
        self.num_classes = len(self.label_names)

    def _read_labels(self) -> np.ndarray:
        items = fetch(self._source, self._index.tolist())
        return np.asarray([int(it["label"]) for it in items], np.int32)

    def __len__(self) -> int:
        return len(self._index)

    def subset(self, positions: np.ndarray) -> RandomAccessSource:
        """A view of some examples (e.g. train_limit), sharing the underlying source."""
        return RandomAccessSource(
            self.name,
            self.split,
            image_size=self.image_size,
            _source=self._source,
            _index=self._index[positions],
        )

    def gather(self, indices: np.ndarray) -> np.ndarray:
        """uint8 [B, S, S, 3] images for positions ``indices`` of this source."""
        items = fetch(self._source, self._index[np.asarray(indices)].tolist())
        return np.stack(
            [_center_resize(np.asarray(it["image"], np.uint8), self.image_size) for it in items]
        )
