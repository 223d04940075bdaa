"""A small tfds dataset of generated JPEGs laid out like ``imagenet2012``, for tests and benchmarks.

``tfds.testing.mock_data`` cannot hand out undecoded JPEG bytes without TensorFlow (it
encodes its random arrays with ``tf.image.encode_jpeg``), so the pipeline's real path,
array_record files read with image decoding skipped, is exercised on a real tfds dataset
written here: same features (``image`` JPEG, ``label`` of 1,000 classes, ``file_name``),
array_record format, ``train`` and ``validation`` splits. Writing needs no TensorFlow.
"""

from __future__ import annotations

import io

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

NAME = "lgl_spl_synthetic_jpegs"
NUM_CLASSES = 1000


def natural_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """uint8 [height, width, 3]: smooth colour fields plus mild noise.

    Compresses and decodes like a photograph (about 100 kB at 450 × 400, quality 90), unlike
    pure noise, which would make every JPEG several times larger and slower to decode.
    """
    coarse = rng.integers(0, 256, (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3), np.uint8)
    img = np.asarray(
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.int16
    )
    img += rng.integers(-40, 41, (height, width, 3), np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode_jpeg(img: np.ndarray, quality: int = 90, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).convert(mode).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class LglSplSyntheticJpegs(tfds.core.GeneratorBasedBuilder):
    """Registered with tfds as ``lgl_spl_synthetic_jpegs``; see :func:`write`."""

    VERSION = tfds.core.Version("1.0.0")
    # No checksums to look up; tfds's lookup of this module's path needs importlib_resources.
    code_path = None
    spec: dict = {}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
                    "file_name": tfds.features.Text(),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        s = self.spec
        sizes = {"train": s["num_train"], "validation": s["num_validation"]}
        # tfds refuses an empty split; a split of 0 examples is left out.
        return {k: self._generate_examples(n, i) for i, (k, n) in enumerate(sizes.items()) if n}

    def _generate_examples(self, n: int, split: int):
        s = self.spec
        rng = np.random.default_rng([s["seed"], split])
        (h_lo, w_lo), (h_hi, w_hi) = s["min_size"], s["max_size"]
        for i in range(n):
            h, w = int(rng.integers(h_lo, h_hi + 1)), int(rng.integers(w_lo, w_hi + 1))
            if rng.random() < 0.5:  # portrait and landscape, as in ImageNet
                h, w = w, h
            grey = s["grayscale_every"] and i % s["grayscale_every"] == 0
            jpeg = encode_jpeg(natural_image(rng, h, w), s["quality"], "L" if grey else "RGB")
            label = int(rng.integers(0, NUM_CLASSES))
            yield i, {"image": jpeg, "label": label, "file_name": f"{split}_{i:06d}.JPEG"}


def write(
    data_dir: str,
    *,
    num_train: int,
    num_validation: int = 0,
    min_size: tuple[int, int] = (350, 400),
    max_size: tuple[int, int] = (375, 500),
    quality: int = 90,
    grayscale_every: int = 0,
    seed: int = 0,
) -> str:
    """Write the dataset under ``data_dir``; returns its tfds name (open with ``data_dir``).

    Image sizes are uniform in [min_size, max_size] as (height, width), half of them
    transposed to portrait; every ``grayscale_every``-th image is a 1-channel JPEG.
    """
    builder = LglSplSyntheticJpegs(data_dir=data_dir, file_format="array_record")
    builder.spec = dict(
        num_train=num_train,
        num_validation=num_validation,
        min_size=min_size,
        max_size=max_size,
        quality=quality,
        grayscale_every=grayscale_every,
        seed=seed,
    )
    from tensorflow_datasets.core.utils import tqdm_utils

    shown = tqdm_utils._active  # tfds has no public getter for its progress-bar switch
    tfds.display_progress_bar(False)
    try:
        builder.download_and_prepare()
    finally:
        tfds.display_progress_bar(shown)
    return NAME
