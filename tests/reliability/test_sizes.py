"""Settings that size an array are checked against the machine's memory before anything is
built: one line naming the setting, the memory it implies and the limit, exit code 2.

The limit is the host's memory (``lgl_spl.train.memory.host_memory_bytes``, patched small
here rather than making big data); the forced CPU devices of the tests share it.
"""

import glob
import importlib.util
import os
import time

import numpy as np
import pytest
from PIL import Image

from lgl_spl import data as data_lib
from lgl_spl import parallel
from lgl_spl.data import Dataset
from lgl_spl.errors import ConfigError
from lgl_spl.train import experiment as experiment_module
from lgl_spl.train import memory, run_length
from tests.helpers import CONFIGS
from tests.reliability.common import TINY, call_main, cli, error_lines, reset_flags

KIB, MIB, GIB = 2**10, 2**20, 2**30


def test_the_estimates_are_the_hand_computed_numbers():
    # A round's plan: 12 steps × 10^9 candidates × (int32 + float32).
    assert memory.plan_bytes(12, 10**9) == 96_000_000_000
    assert memory.human(memory.plan_bytes(12, 10**9)) == "89.4 GiB"
    assert memory.batch_bytes(32, 8 * 8 * 1) == 2048
    assert memory.batch_bytes(256, 224 * 224 * 3) == 38_535_168
    # Evaluation batches are capped at the split and evenly filled (parallel.pass_batch_size).
    assert memory.eval_batch(359, 128, 2) == 120  # 3 batches of 120 (359 rounded up)
    assert memory.eval_batch(1438, 1000, 1) == 719
    assert memory.eval_batch(4, 10**9, 2) == 4
    assert memory.eval_batch(0, 1000, 2) == 0
    assert memory.eval_batch(50_000, 1000, 1) == memory.eval_batch(50_000, 1000, 8) == 1000
    # k-means per class: 10 classes × 40 (the largest) × K=20 × float32.
    assert memory.kmeans_bytes(10, 40, 20) == 32_000
    # A magnet batch: 8 × 8 images of 32×32×3 bytes and their 64-d float32 embeddings.
    assert memory.magnet_bytes(8, 8, 3072, 64) == 64 * (3072 + 256)
    assert [memory.human(b) for b in (0, 1023, 1024, 1536 * KIB, 3 * GIB, 5 * 2**40)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 MiB",
        "3.0 GiB",
        "5.0 TiB",
    ]
    assert memory.host_memory_bytes() > 0


# ---- through the CLI -------------------------------------------------------------------


def test_a_billion_candidates_stops_the_cli_in_one_line_in_seconds(tmp_path):
    """Before the check, the run tried to allocate the plan (~90 GiB) and died with two
    tracebacks; now it never gets there."""
    workdir = tmp_path / "run"
    t0 = time.time()
    proc = cli(
        "--config=configs/digits_online_hard.py",
        f"--workdir={workdir}",
        "--config.method.candidates=1000000000",
        timeout=120,
    )
    seconds = time.time() - t0
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = error_lines(proc.stderr)
    assert line.startswith("error: method.candidates=1000000000: a round's plan"), line
    assert "GiB on the host, more than the host's memory (" in line, line
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert not (workdir / "metrics.jsonl").exists() and not (workdir / "checkpoints").exists()
    assert seconds < 60


@pytest.fixture
def run_main(monkeypatch, capsys):
    """``lgl_spl.main.main`` in-process; building the train state fails the test."""

    def setup_reached(*args, **kwargs):
        raise AssertionError("training setup started despite the bad input")

    monkeypatch.setattr(experiment_module, "create_train_state", setup_reached)
    yield lambda *argv: call_main(monkeypatch, capsys, *argv)
    reset_flags()


def host_memory(monkeypatch, size: int) -> None:
    monkeypatch.setattr(memory, "host_memory_bytes", lambda: size)


def refused(run_main, workdir, *argv) -> str:
    code, err, seconds = run_main(f"--workdir={workdir}", *argv)
    assert code == 2, err
    (line,) = error_lines(err)
    assert "Traceback" not in err
    assert not (workdir / "metrics.jsonl").exists() and not (workdir / "checkpoints").exists()
    assert seconds < 60
    return line


def test_an_absurd_batch_size_is_refused(run_main, tmp_path):
    line = refused(
        run_main,
        tmp_path / "run",
        f"--config={TINY}:random",
        "--config.train.batch_size=1099511627776",
    )
    assert line.startswith(
        "error: train.batch_size=1099511627776: a batch of 1099511627776 images of 8×8×1 "
        "uint8 needs at least 64.0 TiB on the devices, more than the host's memory ("
    ), line


def test_kmeans_clusters_times_examples_over_the_limit(run_main, tmp_path, monkeypatch):
    # 320 digits: the largest class holds 40 and the smallest 21, so K=20 fits every class;
    # the distances are 10 × 40 × 20 × 4 B = 31.2 KiB. The plan, the batch and the
    # evaluation batch (at most 7.5 KiB) fit in 16 KiB.
    host_memory(monkeypatch, 16 * KIB)
    line = refused(
        run_main, tmp_path / "run", f"--config={TINY}:spld", "--config.method.num_clusters=20"
    )
    assert line == (
        "error: method.num_clusters=20: k-means per class (10 classes × 40 examples in the "
        "largest × 20 clusters, float32 distances) needs at least 31.2 KiB on the devices, "
        "more than the host's memory (16.0 KiB), which the devices share"
    ), line


def test_the_magnet_batch_over_the_limit(run_main, tmp_path, monkeypatch):
    host_memory(monkeypatch, 64 * KIB)  # 4 × 1000 × (64 B + 8 × 4 B) = 375 KiB
    line = refused(
        run_main,
        tmp_path / "run",
        f"--config={TINY}:advise",
        "--config.method.examples_per_cluster=1000",
    )
    assert line.startswith(
        "error: method.clusters_per_batch=4 × method.examples_per_cluster=1000: a magnet batch "
        "of 4000 images of 8×8×1 uint8 and their 8-d embeddings needs at least 375.0 KiB"
    ), line


def write_folder(root, *, train=3, test=2):
    """``root/{train,test}/{a,b}/<i>.png``: greyscale 8×8 images (one channel kept)."""
    for split, count in (("train", train), ("test", test)):
        for label, name in enumerate(("a", "b")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.new("L", (8, 8), 40 * label + 10 * i).save(folder / f"{i}.png")
    return root


def folder_args(tmp_path, *overrides):
    images = write_folder(tmp_path / "images")
    return (
        "--config=configs/folder_example.py",
        f"--config.data.path={images}",
        "--config.train.num_epochs=0",
        "--config.train.eval_every_epochs=0",
        "--config.train.num_steps=4",
        "--config.train.eval_every=2",
        *overrides,
    )


def test_a_huge_folder_image_size_is_refused(run_main, tmp_path, monkeypatch):
    """4096² greyscale images: 160 MiB decoded, more than data.in_memory_limit_mb, so they
    would be streamed (nothing is decoded before the check); a batch of 4 is 64 MiB."""
    host_memory(monkeypatch, 48 * MIB)
    line = refused(
        run_main,
        tmp_path / "run",
        *folder_args(
            tmp_path,
            "--config.data.image_size=4096",
            "--config.data.in_memory_limit_mb=16",
            "--config.train.batch_size=4",
        ),
    )
    assert line == (
        "error: train.batch_size=4 with data.image_size=4096: a batch of 4 images of "
        "4096×4096×1 uint8 needs at least 64.0 MiB on the devices, more than the host's "
        "memory (48.0 MiB), which the devices share"
    ), line


def test_an_evaluation_batch_over_the_limit_is_refused(run_main, tmp_path, monkeypatch):
    # The 4 test images make an evaluation batch of 4 (capped at the split): 64 MiB.
    host_memory(monkeypatch, 48 * MIB)
    line = refused(
        run_main,
        tmp_path / "run",
        *folder_args(
            tmp_path,
            "--config.data.image_size=4096",
            "--config.data.in_memory_limit_mb=16",
            "--config.train.batch_size=2",
            "--config.train.eval_batch_size=1000000",
        ),
    )
    assert line.startswith(
        "error: train.eval_batch_size=1000000 with data.image_size=4096: an evaluation batch "
        "of 4 images of 4096×4096×1 uint8 needs at least 64.0 MiB"
    ), line


def test_an_in_memory_limit_above_the_host_memory_is_refused_before_the_data_are_read(
    run_main, tmp_path, monkeypatch
):
    def read(*args, **kwargs):
        raise AssertionError("the data were read despite the bad limit")

    monkeypatch.setattr(data_lib, "load", read)
    host_memory(monkeypatch, GIB)
    line = refused(run_main, tmp_path / "run", *folder_args(tmp_path))  # the default 2048 MB
    assert line == (
        "error: data.in_memory_limit_mb=2048 lets up to 2.0 GiB of decoded images be held in "
        "memory, more than the host's memory (1.0 GiB); lower it (images beyond it are "
        "streamed from disk)"
    ), line


# ---- the repository's configs pass on a 24 GiB host ----------------------------------------

# name: (train, test, one example's shape, classes); images uint8 unless float32 below.
DATASETS = {
    "digits": (1438, 359, (8, 8, 1), 10),
    "toy": (3000, 900, (2,), 3),
    "mnist": (60_000, 10_000, (28, 28, 1), 10),
    "fashion_mnist": (60_000, 10_000, (28, 28, 1), 10),
    "cifar10": (50_000, 10_000, (32, 32, 3), 10),
    "cifar100": (50_000, 10_000, (32, 32, 3), 100),
    "svhn_cropped": (73_257, 26_032, (32, 32, 3), 10),
    "folder": (100_000, 10_000, None, 100),  # data.image_size × 3 channels
    "imagenet2012": (1_281_167, 50_000, None, 1000),  # streamed from disk
}


def _configs():
    paths = sorted(glob.glob(os.path.join(CONFIGS, "*.py")))
    paths += sorted(
        p for p in glob.glob(os.path.join(CONFIGS, "cpu", "*.py")) if not p.endswith("control.py")
    )
    return [os.path.relpath(p, CONFIGS) for p in paths]


def _load(rel: str):
    spec = importlib.util.spec_from_file_location(
        "config_" + rel.replace("/", "_"), os.path.join(CONFIGS, rel)
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def _dataset(cfg) -> Dataset:
    """The shapes ``cfg.data`` loads, without the data (broadcast arrays hold no memory)."""
    train, test, shape, classes = DATASETS[cfg.name]
    if cfg.name == "svhn_cropped" and cfg.svhn_extra:
        train += 531_131
    train = min(train, int(cfg.train_limit) or train)
    test = min(test, int(cfg.test_limit) or test)
    val = int(round(float(cfg.val_fraction) * train))
    train -= val
    streamed = cfg.name == "imagenet2012"
    shape = shape or ((int(cfg.image_size) or 224),) * 2 + (3,)
    dtype = np.float32 if cfg.name == "toy" else np.uint8
    x = lambda n: np.broadcast_to(np.zeros((), dtype), (0 if streamed else n, *shape))
    y = lambda n: (np.arange(n) % classes).astype(np.int32)
    return Dataset(
        x(train),
        y(train),
        x(test),
        y(test),
        x(val),
        y(val),
        classes,
        tuple(map(str, range(classes))),
        cfg.name,
        train_source=object() if streamed else None,
    )


@pytest.mark.parametrize("rel", _configs())
def test_every_config_passes_on_a_24_gib_host(rel, monkeypatch):
    host_memory(monkeypatch, 24 * GIB)
    config = _load(rel)
    dataset = _dataset(config.data)
    memory.check_in_memory_limit(config)
    config = run_length.resolve(
        config, num_train=dataset.num_train, num_classes=dataset.num_classes
    )
    memory.check_sizes(config, dataset, parallel.make_mesh(0))


class _Device:
    """A device that reports its memory, as a GPU does (``memory_stats()['bytes_limit']``)."""

    process_index = 0

    def __init__(self, limit: int):
        self.limit = limit

    def memory_stats(self):
        return {"bytes_limit": self.limit}


class _Mesh:
    def __init__(self, *devices):
        self.devices = np.asarray(devices, dtype=object)
        self.size = len(devices)


def test_devices_with_their_own_memory_are_checked_one_by_one(monkeypatch):
    host_memory(monkeypatch, 24 * GIB)
    cfg = _load("cifar10_random.py")
    dataset = _dataset(cfg.data)  # 50,000 + 10,000 images of 32×32×3: 175.8 MiB
    two = _Mesh(_Device(250 * MIB), _Device(200 * MIB))
    limit = memory.device_limit(list(two.devices.flat))
    assert (limit.bytes, limit.on) == (200 * MIB, "each device")
    memory.check_sizes(cfg, dataset, two)  # every device holds a copy of the data: it fits
    # A batch is split over the devices: 100,000 images are 293 MiB, 146.5 MiB on each.
    cfg.train.batch_size = 100_000
    memory.check_sizes(cfg, dataset, two)
    cfg.train.batch_size = 150_000
    with pytest.raises(ConfigError) as info:
        memory.check_sizes(cfg, dataset, two)
    assert str(info.value) == (
        "train.batch_size=150000: a batch of 150000 images of 32×32×3 uint8 needs at least "
        "219.7 MiB on each device, more than a device's memory (200.0 MiB)"
    )
    cfg.train.batch_size = 128
    with pytest.raises(ConfigError) as info:
        memory.check_sizes(cfg, dataset, _Mesh(_Device(150 * MIB)))
    assert str(info.value) == (
        "dataset 'cifar10': the in-memory data (60000 images of 32×32×3 uint8) needs at least "
        "175.8 MiB on each device, more than a device's memory (150.0 MiB)"
    )
