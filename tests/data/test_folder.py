"""``data.name = "folder"``: class folders of PNG/JPEG files, in memory or streamed."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lgl_spl import configlib, data
from lgl_spl.data import folder
from lgl_spl.data.input_pipeline import HostInput, InputOptions, InputPipelineError
from lgl_spl.errors import ConfigError
from lgl_spl.train.validate import validate_config
from tests.helpers import REPO, cli_env

# Deliberately not in alphabetical order on disk creation; labels follow sorted names.
CLASSES = ("zebra", "ant", "Moth")


def colour(label: int, i: int) -> tuple[int, int, int]:
    """A distinct flat colour per (class, image): resizing keeps it, so labels can be read
    back from the pixels."""
    return (40 + 60 * label, 10 * i, 200 - 10 * i)


def write_tree(root, *, per_class=None, size=(20, 12), splits=("train", "test"), grey=False):
    """``root/<split>/<class>/<i>.png|jpg``: flat-coloured images; PNG and JPEG alternate."""
    per_class = per_class or {"train": 4, "test": 2, "val": 2}
    order = sorted(CLASSES)
    for split in splits:
        for name in CLASSES:
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(per_class[split]):
                rgb = colour(order.index(name), i)
                img = Image.new("RGB", size, rgb)
                if grey:
                    img = img.convert("L")
                if i % 2:
                    img.save(d / f"{i}.jpg", quality=95)
                else:
                    img.save(d / f"{i}.png")
    return root


def data_cfg(path, **kw):
    c = configlib.base_config().data
    with c.unlocked():
        c.name = "folder"
        c.path = str(path)
        c.image_size = 8
        c.update(kw)
    return c


def class_of(pixel) -> int:
    return int(round((int(pixel[0]) - 40) / 60))


def test_loads_resizes_and_orders_classes(tmp_path):
    write_tree(tmp_path)
    d = data.load(data_cfg(tmp_path), seed=0)
    assert d.label_names == ("Moth", "ant", "zebra")  # sorted folder names
    assert d.num_classes == 3 and d.train_source is None
    assert d.x_train.shape == (12, 8, 8, 3) and d.x_train.dtype == np.uint8
    assert d.x_test.shape == (6, 8, 8, 3) and len(d.y_val) == 0
    # Every image is one flat colour: its class can be read from its pixels.
    for x, y in ((d.x_train, d.y_train), (d.x_test, d.y_test)):
        assert [class_of(img[4, 4]) for img in x] == list(y)
        assert np.bincount(y).tolist() == [len(y) // 3] * 3
    # The PNGs are exact after resizing a flat colour; the JPEGs within a few levels.
    np.testing.assert_allclose(d.x_train.reshape(12, -1, 3).std(1), 0, atol=2)


def test_resize_matches_pillow_bilinear(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 20, 3), np.uint8)
    path = tmp_path / "a.png"
    Image.fromarray(pixels).save(path)
    got = folder.load_image(str(path), 8, 3)
    want = np.asarray(Image.fromarray(pixels).resize((8, 8), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(got, want)


def test_greyscale_images_keep_one_channel_and_size_zero_keeps_their_size(tmp_path):
    write_tree(tmp_path, size=(10, 10), grey=True)
    d = data.load(data_cfg(tmp_path, image_size=0), seed=0)
    assert d.x_train.shape == (12, 10, 10, 1)


def test_size_zero_needs_one_square_size(tmp_path):
    write_tree(tmp_path)  # 20 × 12
    with pytest.raises(ConfigError, match=r"not all one square size \(20×12\).*data.image_size"):
        data.load(data_cfg(tmp_path, image_size=0), seed=0)


def test_val_folder_is_the_validation_split(tmp_path):
    write_tree(tmp_path, splits=("train", "val", "test"))
    d = data.load(data_cfg(tmp_path), seed=0)
    assert len(d.y_val) == 6 and d.x_val.shape == (6, 8, 8, 3)
    assert [class_of(img[0, 0]) for img in d.x_val] == list(d.y_val)
    with pytest.raises(ConfigError, match="holds a val/ split and data.val_fraction"):
        data.load(data_cfg(tmp_path, val_fraction=0.2), seed=0)


def test_streamed_is_the_same_dataset_as_in_memory(tmp_path):
    """Over the memory limit the files are streamed: the same examples in the same places,
    after train_limit, the validation split and label noise, decoded to the same pixels."""
    write_tree(tmp_path, per_class={"train": 6, "test": 3})
    kw = dict(train_limit=15, val_fraction=0.2, label_noise=0.25, test_limit=7)
    mem = data.load(data_cfg(tmp_path, **kw), seed=3)
    # 27 images of 8 × 8 × 3 bytes: 5 kB. A limit of 0 streams any dataset.
    streamed = data.load(data_cfg(tmp_path, in_memory_limit_mb=0, **kw), seed=3)
    assert mem.train_source is None and streamed.train_source is not None
    assert streamed.x_train.shape == (0, 8, 8, 3)
    for split in ("train", "val", "test"):
        y = getattr(mem, f"y_{split}")
        np.testing.assert_array_equal(getattr(streamed, f"y_{split}"), y)
        source = getattr(streamed, f"{split}_source")
        assert len(source) == len(y) > 0
        np.testing.assert_array_equal(source.gather(np.arange(len(y))), getattr(mem, f"x_{split}"))
    np.testing.assert_array_equal(streamed.y_train_clean, mem.y_train_clean)
    assert (mem.y_train != mem.y_train_clean).sum() == 3  # 25 % of 12


def test_only_the_examples_the_run_uses_count_against_the_memory_limit(tmp_path, monkeypatch):
    # 90 train + 6 test images of 64 × 64 × 3 (12 kB): 1.1 MiB, over a 1 MiB limit.
    write_tree(tmp_path, per_class={"train": 30, "test": 2})
    decoded = []
    real = folder.load_image
    monkeypatch.setattr(folder, "load_image", lambda *a: decoded.append(a[0]) or real(*a))
    whole = data.load(data_cfg(tmp_path, image_size=64, in_memory_limit_mb=1), seed=0)
    assert whole.train_source is not None and decoded == []  # streamed: nothing decoded yet
    part = data.load(data_cfg(tmp_path, image_size=64, in_memory_limit_mb=1, train_limit=30))
    assert part.train_source is None and part.x_train.shape == (30, 64, 64, 3)
    assert len(decoded) == 36  # the 30 training images kept and the 6 test images, no more


def test_streamed_batches_through_grain_workers(tmp_path):
    """The host pipeline decodes the files by path in a worker process, in plan order."""
    write_tree(tmp_path, size=(10, 10), grey=True)
    d = data.load(data_cfg(tmp_path, in_memory_limit_mb=0, image_size=0), seed=0)
    ref = data.load(data_cfg(tmp_path, image_size=0), seed=0)
    host = HostInput(d.train_source, labels=d.y_train, augment=False, options=InputOptions(1))
    plan = np.array([[0, 5, 11, 3], [7, 7, 2, 9]])
    with host.stream(plan, first_step=0) as stream:
        batches = list(stream)
    for (images, labels), row in zip(batches, plan, strict=True):
        assert images.shape == (4, 10, 10, 1)
        np.testing.assert_array_equal(images, ref.x_train[row])
        np.testing.assert_array_equal(labels, ref.y_train[row])


def test_a_file_damaged_after_the_check_stops_the_stream_naming_it(tmp_path):
    write_tree(tmp_path)
    d = data.load(data_cfg(tmp_path, in_memory_limit_mb=0), seed=0)
    victim = d.train_source.files.path(int(d.train_source.keys([2])[0]))
    with open(victim, "wb") as f:
        f.write(b"not an image")
    host = HostInput(d.train_source, labels=d.y_train, augment=False, options=InputOptions(0))
    with pytest.raises(InputPipelineError, match=f"image '{victim}' cannot be read"):
        list(host.stream(np.array([[0, 1], [2, 3]]), first_step=0))


# ---- errors: one line naming the file or folder, before training ----------------------------


def _broken(tmp_path, case):
    write_tree(tmp_path, splits=("train", "val", "test"))
    root = tmp_path
    if case == "empty class":
        for f in (root / "test" / "ant").iterdir():
            f.unlink()
        return f"class folder '{root / 'test' / 'ant'}' holds no images"
    if case == "unreadable":
        (root / "train" / "ant" / "2.png").write_bytes(b"\x89PNG truncated")
        return f"image '{root / 'train' / 'ant' / '2.png'}' cannot be read"
    if case == "truncated png":
        path = root / "train" / "zebra" / "0.png"
        path.write_bytes(path.read_bytes()[:-30])
        return f"image '{path}' cannot be read"
    if case == "gif":
        Image.new("RGB", (4, 4)).save(root / "val" / "Moth" / "x.jpg", format="GIF")
        return f"image '{root / 'val' / 'Moth' / 'x.jpg'}' cannot be read: it is a GIF image"
    if case == "other extension":
        (root / "train" / "ant" / "notes.txt").write_text("hello")
        return f"'{root / 'train' / 'ant' / 'notes.txt'}' is not a PNG or JPEG file"
    if case == "missing split":
        for f in sorted((root / "test").rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        (root / "test").rmdir()
        return f"missing split folder '{root / 'test'}'"
    if case == "classes differ":
        (root / "test" / "ant").rename(root / "test" / "bee")
        return (
            f"the class folders of '{root / 'test'}' differ from train's: "
            r"it lacks \['ant'\] and adds \['bee'\]"
        )
    if case == "stray file":
        Image.new("RGB", (4, 4)).save(root / "train" / "loose.png")
        return f"'{root / 'train' / 'loose.png'}' is not a class folder"
    if case == "nested folder":
        (root / "train" / "ant" / "more").mkdir()
        return f"'{root / 'train' / 'ant' / 'more'}' is a folder inside a class folder"
    if case == "no folder":
        return f"data.path '{root / 'nope'}' is not a folder"
    if case == "symlink loop":  # once blamed on the workdir (exit 4)
        (root / "train" / "ant" / "loop.png").symlink_to("loop.png")
        return f"'{root / 'train' / 'ant' / 'loop.png'}' cannot be read: Too many levels"
    if case == "class folder loop":
        (root / "test" / "ant" / "deeper").symlink_to("deeper")
        return f"'{root / 'test' / 'ant' / 'deeper'}' cannot be read"
    if case == "dangling link":
        (root / "val" / "Moth" / "gone.jpg").symlink_to(root / "nowhere.jpg")
        return f"image '{root / 'val' / 'Moth' / 'gone.jpg'}' cannot be read"
    raise AssertionError(case)


ERROR_CASES = (
    "empty class",
    "unreadable",
    "truncated png",
    "gif",
    "other extension",
    "missing split",
    "classes differ",
    "stray file",
    "nested folder",
    "no folder",
    "symlink loop",
    "class folder loop",
    "dangling link",
)


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_name_the_file_or_folder(tmp_path, case):
    message = _broken(tmp_path, case)
    path = tmp_path / "nope" if case == "no folder" else tmp_path
    for limit in (2048, 0):  # the check is the same whether the data would be streamed
        with pytest.raises(ConfigError, match=message) as info:
            data.load(data_cfg(path, in_memory_limit_mb=limit), seed=0)
        assert "\n" not in str(info.value)


def test_hidden_files_are_ignored(tmp_path):
    write_tree(tmp_path)
    (tmp_path / "train" / ".DS_Store").write_bytes(b"\0\0")
    (tmp_path / "train" / "ant" / ".thumb.png").write_bytes(b"junk")
    (tmp_path / "train" / "ant" / "._0.png").write_bytes(b"\0\5\26\7")  # macOS AppleDouble
    (tmp_path / "test" / "ant" / ".loop.png").symlink_to(".loop.png")
    assert len(data.load(data_cfg(tmp_path), seed=0).y_train) == 12


def test_config_checks():
    c = configlib.base_config()
    c.data.name = "folder"
    with pytest.raises(ConfigError, match='"folder" needs data.path'):
        validate_config(c)
    c.data.path = "/somewhere"
    c.data.in_memory_limit_mb = -1
    with pytest.raises(ConfigError, match="in_memory_limit_mb must be a finite number ≥ 0, got -1"):
        validate_config(c)
    c.data.in_memory_limit_mb = 0
    validate_config(c)  # the folder itself is read with the data


# ---- end to end through the command line ----------------------------------------------------


def main(tmp_path, *overrides, run="run"):
    workdir = tmp_path / run
    args = [
        sys.executable, "-m", "lgl_spl.main", "--config", "configs/folder_example.py",
        "--workdir", str(workdir), f"--config.data.path={tmp_path / 'images'}",
        "--config.train.num_epochs=0", "--config.train.eval_every_epochs=0",
        "--config.train.num_steps=4", "--config.train.eval_every=2",
        "--config.train.batch_size=4", "--config.train.log_every=2", *overrides,
    ]  # fmt: skip
    proc = subprocess.run(
        args, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300
    )
    return proc, workdir


def check_run(proc, workdir):
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(workdir / "run_info.json") as f:
        info = json.load(f)
    assert info["dataset"] == "folder" and info["label_names"] == ["Moth", "ant", "zebra"]
    assert info["num_train"] == 12 and info["num_test"] == 6 and info["num_val"] == 6
    with open(workdir / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert [r["step"] for r in rows] == [2, 4]
    assert all(np.isfinite(r["train_loss"]) and "val_accuracy" in r for r in rows)
    return rows


def test_main_trains_on_a_folder_in_memory(tmp_path):
    write_tree(tmp_path / "images", splits=("train", "val", "test"))
    proc, workdir = main(tmp_path)
    check_run(proc, workdir)
    assert "decoded into memory" in proc.stderr


@pytest.mark.slow
def test_main_streams_a_folder_through_grain_workers(tmp_path):
    """The same run streamed (one decoding worker process) gives the in-memory run's
    metrics: the steps receive the same pixels either way."""
    write_tree(tmp_path / "images", splits=("train", "val", "test"))
    mem = check_run(*main(tmp_path))
    proc, workdir = main(
        tmp_path,
        "--config.data.in_memory_limit_mb=0",
        "--config.data.num_workers=1",
        run="streamed",
    )
    streamed = check_run(proc, workdir)
    assert "streamed from disk" in proc.stderr
    for a, b in zip(mem, streamed, strict=True):
        for key in ("train_loss", "test_loss", "val_loss", "test_accuracy"):
            assert a[key] == b[key], key


@pytest.mark.parametrize("kind", ["not really a JPEG", "symlink loop"])
def test_main_reports_a_bad_folder_in_one_line(tmp_path, kind):
    write_tree(tmp_path / "images")
    bad = tmp_path / "images" / "test" / "zebra" / "1.jpg"
    if kind == "symlink loop":  # a data error (exit 2), not the workdir's (it was exit 4)
        bad.unlink()
        bad.symlink_to(bad.name)
    else:
        bad.write_bytes(b"\xff\xd8 not really")
    proc, workdir = main(tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "cannot be read: " in lines[0], lines
    assert lines[0].startswith(
        f"error: image '{bad}'" if kind != "symlink loop" else f"error: '{bad}'"
    )
    assert "Traceback" not in proc.stderr
    assert not (workdir / "metrics.jsonl").exists()
