"""A host-side random-access reader for datasets that cannot sit in memory (ImageNet).

The tfds ``data_source`` is opened with image decoding skipped: records carry their JPEG
bytes, so reading the labels decodes nothing, and images are decoded (Pillow) only where a
batch is made, by :func:`decode_batch`, in the loop's process (``gather``) or in the
input pipeline's workers (``lgl_spl.data.input_pipeline``).
"""

from __future__ import annotations

import logging

import numpy as np

from lgl_spl.data.imagenet_transforms import Transform
from lgl_spl.data.sources import _import_tfds, fetch, tfds_source

_LABEL_CHUNK = 4096  # records a read; array_record reads a chunk's records in parallel


def open_undecoded(name: str, split: str, data_dir: str = ""):
    """``(source, encoded)``: a tfds data source whose records hold undecoded image bytes.

    ``tfds.testing.mock_data`` can only produce image bytes through TensorFlow (it
    encodes random arrays with ``tf.image.encode_jpeg``); without it the source is
    reopened decoded and ``encoded`` is False. A prepared dataset never needs TensorFlow.
    """
    tfds = _import_tfds()
    source = tfds_source(name, split, data_dir, decoders={"image": tfds.decode.SkipDecoding()})
    try:
        if len(source):
            fetch(source, [0])
    except ImportError as e:
        logging.getLogger(__name__).warning(
            "%s/%s: image decoding cannot be skipped (%s); reading decoded records",
            name,
            split,
            " ".join(str(e).split()),
        )
        return tfds_source(name, split, data_dir), False
    return source, True


def decode_batch(
    source,
    keys: np.ndarray,
    transform: Transform,
    *,
    step: int = 0,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 [len(keys), S, S, C]: records ``keys`` of ``source`` through ``transform``.

    A training example's randomness is keyed on (``transform.seed``, ``step``, its
    position in the global batch); ``positions`` defaults to 0..len(keys)-1.
    """
    keys = np.asarray(keys)
    positions = np.arange(len(keys)) if positions is None else np.asarray(positions)
    channels = getattr(transform, "channels", 3)  # a folder of greyscale images: 1
    out = np.empty((len(keys), transform.size, transform.size, channels), np.uint8)
    for j, record in enumerate(fetch(source, keys.tolist())):
        try:
            out[j] = transform(record["image"], step, int(positions[j]))
        except Exception as e:  # noqa: BLE001 - reported with the example it happened to
            raise ValueError(
                f"record {int(keys[j])} (step {step}, batch position {int(positions[j])}) "
                f"cannot be decoded: {type(e).__name__}: {e}"
            ) from e
    return out


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
        _labels: np.ndarray | None = None,
    ):
        self.name = name
        self.split = split
        self.image_size = image_size
        if _source is None:
            self._source, self.encoded = open_undecoded(name, split, data_dir)
        else:
            self._source = _source
            self.encoded = None  # unknown: whatever the given source returns
        self._index = np.arange(len(self._source)) if _index is None else _index
        self.labels = self._read_labels() if _labels is None else _labels
        try:
            self.label_names = tuple(self._source.dataset_info.features["label"].names)
        except (AttributeError, KeyError, TypeError):
            self.label_names = tuple(str(i) for i in range(int(self.labels.max()) + 1))
        self.num_classes = len(self.label_names)

    def _read_labels(self) -> np.ndarray:
        labels = np.empty(len(self._index), np.int32)
        for lo in range(0, len(self._index), _LABEL_CHUNK):
            items = fetch(self._source, self._index[lo : lo + _LABEL_CHUNK].tolist())
            labels[lo : lo + len(items)] = [int(it["label"]) for it in items]
        return labels

    def __len__(self) -> int:
        return len(self._index)

    @property
    def data_source(self):
        """The underlying tfds source (picklable: input workers open their own copy)."""
        return self._source

    def keys(self, positions) -> np.ndarray:
        """Record keys of the underlying source for positions of this view."""
        return self._index[np.asarray(positions)]

    def subset(self, positions: np.ndarray) -> RandomAccessSource:
        """A view of some examples (e.g. train_limit), sharing the source and its labels."""
        view = RandomAccessSource(
            self.name,
            self.split,
            image_size=self.image_size,
            _source=self._source,
            _index=self._index[positions],
            _labels=self.labels[positions],
        )
        view.encoded = self.encoded
        return view

    def transform(self, *, train: bool = False, seed: int = 0) -> Transform:
        return Transform(size=self.image_size, train=train, seed=seed)

    def gather(
        self, indices: np.ndarray, *, train: bool = False, step: int = 0, seed: int = 0
    ) -> np.ndarray:
        """uint8 [B, S, S, 3] images for positions ``indices``, decoded here and now.

        The evaluation transform by default; ``train=True``: the training transform with
        the randomness of global step ``step`` (batch position = row of ``indices``).
        """
        transform = self.transform(train=train, seed=seed)
        return decode_batch(self._source, self.keys(indices), transform, step=step)
