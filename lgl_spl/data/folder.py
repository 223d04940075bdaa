"""Your own images: ``data.name = "folder"``, one folder per class under each split.

``data.path`` holds ``train/<class>/*`` and ``test/<class>/*`` (optionally ``val/<class>/*``),
PNG or JPEG files. Classes are the sorted folder names; every split must hold the same ones.
Images are resized (not cropped) to ``data.image_size`` square with a bilinear filter; with
``data.image_size = 0`` they must already share one square size, which is kept. They keep a
single channel when every image is greyscale, else they become RGB.

Every file's header is read before training (size, mode, and for PNG the checksums), so a
missing split, an empty class folder, a file that is not a PNG or JPEG or that cannot be
read stops the run with one line naming it. When the examples a run uses take at most
``data.in_memory_limit_mb`` decoded, they are decoded once into arrays (the in-memory path
of every other dataset); otherwise they are decoded by file path, a round's batches ahead,
by the Grain workers of :mod:`lgl_spl.data.input_pipeline` (the ImageNet path). The choice
is made in :func:`lgl_spl.data.pipeline.load`, after the run's splits.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os

import numpy as np
from PIL import Image, ImageOps

from lgl_spl.errors import ConfigError

EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "val", "test")  # val is optional
_GREY_MODES = ("1", "L", "LA")
_CHUNK = 64  # files a task: small images take microseconds, a task per file would dominate


@dataclasses.dataclass(frozen=True)
class Tree:
    """The files of a folder dataset: per split, paths relative to ``root`` and labels."""

    root: str
    classes: tuple[str, ...]
    files: dict[str, list[str]]
    labels: dict[str, np.ndarray]


def _entries(folder: str) -> list[os.DirEntry]:
    """A folder's entries, hidden ones (``.DS_Store``, ``.ipynb_checkpoints``) left out."""
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as e:
        raise ConfigError(f"folder {folder!r} cannot be read: {e.strerror or e}") from None


def _is_dir(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a folder; an entry that cannot be followed (a symlink loop, a
    lost mount) is a data error naming it, never an error of the run's own files."""
    try:
        return entry.is_dir()
    except OSError as e:
        raise ConfigError(f"{entry.path!r} cannot be read: {e.strerror or e}") from None


def scan(root: str) -> Tree:
    """The class folders and image files under ``root``; every layout error is one line."""
    if not root:
        raise ConfigError('data.name "folder" needs data.path, the folder holding train/ and test/')
    if not os.path.isdir(root):
        raise ConfigError(f"data.path {root!r} is not a folder")
    classes: dict[str, tuple[str, ...]] = {}
    files: dict[str, list[str]] = {}
    labels: dict[str, np.ndarray] = {}
    for split in SPLITS:
        top = os.path.join(root, split)
        if not os.path.isdir(top):
            if split == "val":
                continue
            raise ConfigError(
                f"missing split folder {top!r}: data.path must hold train/<class>/ and "
                "test/<class>/ (val/<class>/ optional)"
            )
        entries = _entries(top)
        stray = [e.name for e in entries if not _is_dir(e)]
        if stray:
            raise ConfigError(
                f"{os.path.join(top, stray[0])!r} is not a class folder: {top!r} must hold "
                "only one folder per class"
            )
        if not entries:
            raise ConfigError(f"split folder {top!r} holds no class folders")
        classes[split] = tuple(e.name for e in entries)
        paths, y = [], []
        for label, entry in enumerate(entries):
            images = []
            for f in _entries(entry.path):
                rel = os.path.join(split, entry.name, f.name)
                if _is_dir(f):
                    raise ConfigError(
                        f"{os.path.join(root, rel)!r} is a folder inside a class folder; "
                        "a class folder holds image files only"
                    )
                if not f.name.lower().endswith(EXTENSIONS):
                    raise ConfigError(
                        f"{os.path.join(root, rel)!r} is not a PNG or JPEG file "
                        f"(expected one of {', '.join(EXTENSIONS)})"
                    )
                images.append(rel)
            if not images:
                raise ConfigError(f"class folder {entry.path!r} holds no images")
            paths += images
            y += [label] * len(images)
        files[split] = paths
        labels[split] = np.asarray(y, np.int32)
    names = classes["train"]
    for split, found in classes.items():
        if found != names:
            missing = sorted(set(names) - set(found))
            extra = sorted(set(found) - set(names))
            parts = [f"lacks {missing}" if missing else "", f"adds {extra}" if extra else ""]
            raise ConfigError(
                f"the class folders of {os.path.join(root, split)!r} differ from train's: "
                f"it {' and '.join(p for p in parts if p)}"
            )
    return Tree(root, names, files, labels)


def _threads() -> int:
    """Threads for reading files: Pillow releases the GIL while it reads and decodes."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _each(fn, n: int) -> list:
    """``[fn(i) for i in range(n)]``, run in threads over chunks of ``_CHUNK`` indices."""
    chunks = [range(lo, min(lo + _CHUNK, n)) for lo in range(0, n, _CHUNK)]
    if len(chunks) <= 1 or _threads() == 1:
        return [fn(i) for i in range(n)]
    with concurrent.futures.ThreadPoolExecutor(_threads()) as pool:
        parts = pool.map(lambda chunk: [fn(i) for i in chunk], chunks)
        return [x for part in parts for x in part]


def _probe_one(path: str) -> tuple[int, int, str]:
    """(width, height, mode) of one image, after checking it can be read."""
    try:
        with Image.open(path) as img:
            if img.format not in ("PNG", "JPEG"):
                raise ValueError(f"it is a {img.format} image, not PNG or JPEG")
            width, height, mode = *img.size, img.mode
            # EXIF orientations 5-8 turn the image a quarter (a PNG's EXIF would need a decode).
            orientation = img.getexif().get(0x0112, 1) if img.format == "JPEG" else 1
            img.verify()  # PNG: every chunk's checksum
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ConfigError(f"image {path!r} cannot be read: {_reason(e)}") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return width, height, mode


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:200]


def probe(tree: Tree) -> tuple[set[tuple[int, int]], int]:
    """The image sizes (width, height) found and the channels to keep (1: all greyscale)."""
    paths = [os.path.join(tree.root, p) for split in tree.files.values() for p in split]
    found = _each(lambda i: _probe_one(paths[i]), len(paths))
    sizes = {(w, h) for w, h, _ in found}
    channels = 1 if all(mode in _GREY_MODES for _, _, mode in found) else 3
    return sizes, channels


def image_size(requested: int, sizes: set[tuple[int, int]], root: str) -> int:
    """``requested``, or with 0 the one square size every image already has."""
    if requested:
        return int(requested)
    if len(sizes) == 1:
        ((w, h),) = sizes
        if w == h:
            return int(w)
    shown = ", ".join(f"{w}×{h}" for w, h in sorted(sizes)[:3])
    raise ConfigError(
        f"the images under {root!r} are not all one square size ({shown}"
        f"{', …' if len(sizes) > 3 else ''}); set data.image_size to resize them"
    )


def load_image(path: str, size: int, channels: int) -> np.ndarray:
    """uint8 [size, size, channels]: the file upright (EXIF), resized to a square.

    The one decoding function of both paths (in memory and streamed), so they agree.
    """
    try:
        with Image.open(path) as img:
            mode = "L" if channels == 1 else "RGB"
            if img.format == "JPEG":
                # Decode at the smallest 1/2, 1/4 or 1/8 scale still at least size × size
                # (libjpeg's DCT scaling): less work for photographs far above the size.
                img.draft(mode, (size, size))
            img = ImageOps.exif_transpose(img)
            img = img.convert(mode)
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            out = np.asarray(img, np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ConfigError(f"image {path!r} cannot be read: {_reason(e)}") from None
    return out[..., None] if channels == 1 else out


class FolderFiles:
    """The records the input workers read: ``{"image": path, "label": int}`` by key.

    Paths are kept as one byte string and offsets, not a list of strings: this object is
    pickled into every worker, and a million paths pickle as one buffer.
    """

    def __init__(self, root: str, paths: list[str], labels: np.ndarray):
        encoded = [p.encode() for p in paths]
        self.root = root
        self._blob = b"".join(encoded)
        self._offsets = np.cumsum([0, *map(len, encoded)], dtype=np.int64)
        self.labels = np.asarray(labels, np.int32)

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, key: int) -> str:
        lo, hi = self._offsets[key], self._offsets[key + 1]
        return os.path.join(self.root, self._blob[lo:hi].decode())

    def __getitem__(self, key: int) -> dict:
        return {"image": self.path(int(key)), "label": int(self.labels[int(key)])}

    def __getitems__(self, keys) -> list[dict]:
        return [self[k] for k in keys]


@dataclasses.dataclass(frozen=True)
class FolderTransform:
    """An image file to uint8 [size, size, channels]; the same for training and evaluation.

    Random transforms of folder datasets happen on the device (``data.augment``), as for
    every in-memory dataset, so the streamed and in-memory paths train on the same pixels.
    """

    size: int
    channels: int = 3

    def __call__(self, image, step: int = 0, position: int = 0) -> np.ndarray:
        del step, position
        return load_image(image, self.size, self.channels)


class FolderSource:
    """Random access by position to one split's image files, labels in memory.

    Streamed, it has the interface of :class:`lgl_spl.data.random_access.RandomAccessSource`
    (``keys``/``subset`` views, ``transform``, ``gather``) that the input pipeline reads;
    in memory, ``read_all`` decodes its view once.
    """

    def __init__(
        self,
        files: FolderFiles,
        *,
        image_size: int,
        channels: int,
        label_names: tuple[str, ...],
        index: np.ndarray | None = None,
    ):
        self.files = files
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.label_names = tuple(label_names)
        self.num_classes = len(self.label_names)
        self._index = np.arange(len(files)) if index is None else np.asarray(index)
        self.labels = files.labels[self._index]

    def __len__(self) -> int:
        return len(self._index)

    @property
    def data_source(self) -> FolderFiles:
        return self.files

    def keys(self, positions) -> np.ndarray:
        return self._index[np.asarray(positions)]

    def subset(self, positions) -> FolderSource:
        return FolderSource(
            self.files,
            image_size=self.image_size,
            channels=self.channels,
            label_names=self.label_names,
            index=self._index[np.asarray(positions)],
        )

    def transform(self, *, train: bool = False, seed: int = 0) -> FolderTransform:
        del train, seed  # no host-side randomness: augmentation runs on the device
        return FolderTransform(self.image_size, self.channels)

    @property
    def nbytes(self) -> int:
        """Bytes of this view's images, decoded."""
        return len(self) * self.image_size**2 * self.channels

    def gather(self, indices, *, train: bool = False, step: int = 0, seed: int = 0) -> np.ndarray:
        """uint8 [B, S, S, C] images for positions ``indices``, decoded here and now (threads)."""
        del train, step, seed
        keys = self.keys(indices)
        out = np.empty((len(keys), self.image_size, self.image_size, self.channels), np.uint8)

        def one(i: int) -> None:
            out[i] = load_image(self.files.path(int(keys[i])), self.image_size, self.channels)

        _each(one, len(keys))
        return out

    def read_all(self) -> np.ndarray:
        """Every image of this view, in order: the in-memory path."""
        return self.gather(np.arange(len(self)))


def open_splits(cfg) -> dict[str, FolderSource]:
    """Scan and check ``cfg.path``: a source for each split found (``val`` is optional).

    Nothing is decoded yet; :mod:`lgl_spl.data.pipeline` takes the run's examples, then
    decodes them into memory (``read_all``) or streams them, by their size.
    """
    path = str(cfg.path)
    root = os.path.abspath(os.path.expanduser(path)) if path else ""
    tree = scan(root)
    sizes, channels = probe(tree)
    size = image_size(int(cfg.image_size), sizes, root)
    return {
        split: FolderSource(
            FolderFiles(root, paths, tree.labels[split]),
            image_size=size,
            channels=channels,
            label_names=tree.classes,
        )
        for split, paths in tree.files.items()
    }
