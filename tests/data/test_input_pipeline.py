"""The ImageNet input path: labels without decoding, the synchronous path, Grain streams.

The source is a real tfds dataset in array_record files (``synthetic_jpegs``), not
``tfds.testing.mock_data``: the mock needs TensorFlow to produce undecoded JPEG bytes.
Tests with worker processes take a few seconds each (spawning a worker imports the
package); the heavier ones are marked slow.
"""

import gc
import os
import signal
import subprocess
import sys
import time

import jax
import ml_collections
import numpy as np
import pytest
from PIL import Image

from lgl_spl import parallel
from lgl_spl.data import imagenet_transforms as T
from lgl_spl.data import synthetic_jpegs
from lgl_spl.data.input_pipeline import HostInput, InputOptions, InputPipelineError
from lgl_spl.data.random_access import RandomAccessSource
from lgl_spl.errors import ConfigError
from lgl_spl.train.feeding import DeviceFeeder, StreamingHostFeeder, make_feeder

SIZE = 32


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("jpegs"))
    synthetic_jpegs.write(
        path,
        num_train=30,
        num_validation=7,
        min_size=(40, 50),
        max_size=(60, 80),
        grayscale_every=4,
    )
    return path


@pytest.fixture(scope="module")
def source(data_dir):
    return RandomAccessSource(synthetic_jpegs.NAME, "train", data_dir=data_dir, image_size=SIZE)


def plan(n, steps=5, batch=8, seed=0):
    return np.random.default_rng(seed).integers(0, n, (steps, batch)).astype(np.int32)


def sync(inp, indices, first_step, train=True):
    return [inp.batch(row, train=train, step=first_step + r) for r, row in enumerate(indices)]


def assert_same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert len(g) == len(w)
        for a, b in zip(g, w, strict=True):
            np.testing.assert_array_equal(a, b)


def children() -> list[int]:
    """Live (or unreaped) child processes of this process, but multiprocessing's resource
    tracker (started with the first worker, it lives as long as this process)."""
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker._pid
    pids = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split() if int(p) != tracker]
        except FileNotFoundError:  # a thread that ended since listdir
            pass
    return pids


def wait_no_children(timeout=10.0):
    deadline = time.time() + timeout
    while children() and time.time() < deadline:
        time.sleep(0.05)
    assert not children(), f"child processes left: {children()}"


# ---- labels and the synchronous path ---------------------------------------------------


def test_labels_are_read_without_decoding_any_image(data_dir, monkeypatch):
    import tensorflow_datasets as tfds

    decoded = tfds.data_source(synthetic_jpegs.NAME, split="train", data_dir=data_dir)
    want = np.array([int(decoded[i]["label"]) for i in range(len(decoded))], np.int32)
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(1) or real_open(*a, **k))

    src = RandomAccessSource(synthetic_jpegs.NAME, "train", data_dir=data_dir, image_size=SIZE)
    np.testing.assert_array_equal(src.labels, want)
    assert opened == [] and src.encoded is True
    assert isinstance(src.data_source[0]["image"], bytes)
    assert src.num_classes == 1000
    src.gather([0, 1])
    assert len(opened) == 2  # the counter does see decodes


def test_gather_is_the_eval_transform_of_the_tfds_image(source, data_dir):
    import tensorflow_datasets as tfds

    decoded = tfds.data_source(synthetic_jpegs.NAME, split="train", data_dir=data_dir)
    idx = np.array([3, 0, 3, 29])
    want = np.stack([T.eval_transform(decoded[int(i)]["image"], SIZE) for i in idx])
    np.testing.assert_array_equal(source.gather(idx), want)
    view = source.subset(np.array([29, 3]))
    np.testing.assert_array_equal(view.gather([1, 0]), want[[0, 3]])
    np.testing.assert_array_equal(view.labels, source.labels[[29, 3]])


def test_mock_data_falls_back_to_decoded_records():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        src = RandomAccessSource("imagenet2012", "train", image_size=SIZE)
        assert src.encoded is False  # mock data cannot skip decoding without TensorFlow
        inp = HostInput(src, seed=1, options=InputOptions(num_workers=0))
        indices = plan(len(src), steps=2, batch=4)
        assert_same(list(inp.stream(indices, first_step=0)), sync(inp, indices, 0))


# ---- streams in this process (threads) -------------------------------------------------


@pytest.mark.parametrize("train", [True, False])
def test_stream_yields_the_synchronous_batches(source, train):
    # chunk 3: each batch of 8 is three work items joined in order.
    inp = HostInput(source, seed=4, options=InputOptions(num_workers=0, prefetch=3, chunk=3))
    indices = plan(len(source))
    got = list(inp.stream(indices, first_step=100, train=train))
    assert_same(got, sync(inp, indices, 100, train))
    images, labels = got[0]
    assert images.shape == (8, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int32


def test_stream_resumed_at_step_k_is_the_tail(source):
    inp = HostInput(source, seed=4, options=InputOptions(num_workers=0, chunk=5))
    indices = plan(len(source), steps=6)
    full = list(inp.stream(indices, first_step=60))
    for k in (1, 4, 6):
        assert_same(list(inp.stream(indices, first_step=60, start=k)), full[k:])
    assert_same(list(inp.stream(indices, first_step=60, start=2, stop=4)), full[2:4])


def test_augment_off_means_the_eval_transform(source):
    inp = HostInput(source, augment=False, options=InputOptions(num_workers=0))
    indices = plan(len(source), steps=2)
    assert_same(list(inp.stream(indices, first_step=0)), sync(inp, indices, 0, train=False))


def test_columns_are_the_slice_of_the_global_batch(source):
    inp = HostInput(source, seed=9, options=InputOptions(num_workers=0))
    indices = plan(len(source), steps=3)
    full = list(inp.stream(indices, first_step=0))
    part = list(inp.stream(indices, first_step=0, columns=slice(2, 5)))
    assert_same(part, [(im[2:5], lab[2:5]) for im, lab in full])


def test_eval_stream_pads_the_last_batch(source):
    inp = HostInput(source, options=InputOptions(num_workers=0))
    got = list(inp.eval_stream(8))  # 30 examples: 4 batches, the last with 2 padding rows
    assert len(got) == 4
    idx = np.minimum(np.arange(32), 29).reshape(4, 8)
    assert_same([g[:2] for g in got], [inp.batch(row) for row in idx])
    weights = np.concatenate([g[2] for g in got])
    np.testing.assert_array_equal(weights, (np.arange(32) < 30).astype(np.float32))


class BadSource:
    """Picklable records, one of them not an image."""

    def __init__(self, bad):
        rng = np.random.default_rng(0)
        self.items = [
            {"image": synthetic_jpegs.encode_jpeg(synthetic_jpegs.natural_image(rng, 20, 30))}
            for _ in range(12)
        ]
        self.items[bad] = {"image": b"not a jpeg"}
        for i, item in enumerate(self.items):
            item["label"] = i % 3

    def __len__(self):
        return len(self.items)

    def __getitem__(self, key):
        return self.items[key]

    def __getitems__(self, keys):
        return [self.items[k] for k in keys]


def test_a_bad_record_is_one_clear_error():
    src = RandomAccessSource("bad", "train", image_size=SIZE, _source=BadSource(bad=7))
    inp = HostInput(src, options=InputOptions(num_workers=0))
    stream = inp.stream(np.arange(12).reshape(3, 4), first_step=20)
    next(stream)
    with pytest.raises(InputPipelineError, match=r"record 7 \(step 21, batch position 3\)"):
        next(stream)
    assert len(stream) == 0 and list(stream) == []  # closed


def test_abandoned_thread_stream_is_closed(source):
    inp = HostInput(source, options=InputOptions(num_workers=0))
    with inp.stream(plan(len(source)), first_step=0) as stream:
        next(stream)
    assert len(stream) == 0


# ---- worker processes ------------------------------------------------------------------


def test_one_worker_matches_sync_survives_sigterm_and_leaves_no_process(source):
    inp = HostInput(source, seed=3, options=InputOptions(num_workers=1, prefetch=2, chunk=5))
    indices = plan(len(source), steps=4)
    stream = inp.stream(indices, first_step=40)
    got = [next(stream)]
    # A scheduler's SIGTERM to the process group must not take the batches away.
    for pid in children():
        os.kill(pid, signal.SIGTERM)
    got += list(stream)
    assert_same(got, sync(inp, indices, 40))
    wait_no_children()


@pytest.mark.slow
def test_two_workers_match_sync_resume_and_eval(source):
    inp = HostInput(source, seed=3, options=InputOptions(num_workers=2, chunk=3))
    indices = plan(len(source), steps=5)
    want = sync(inp, indices, 7)
    assert_same(list(inp.stream(indices, first_step=7)), want)
    assert_same(list(inp.stream(indices, first_step=7, start=3)), want[3:])
    threads = HostInput(source, options=InputOptions(num_workers=0))
    assert_same(list(inp.eval_stream(16)), list(threads.eval_stream(16)))
    wait_no_children()


@pytest.mark.slow
def test_worker_error_and_abandoned_streams_stop_the_workers(source):
    src = RandomAccessSource("bad", "train", image_size=SIZE, _source=BadSource(bad=9))
    inp = HostInput(src, options=InputOptions(num_workers=2, chunk=2))
    stream = inp.stream(np.arange(12).reshape(3, 4), first_step=0)
    with pytest.raises(InputPipelineError, match=r"record 9 \(step 2, batch position 1\)"):
        list(stream)
    wait_no_children()
    # Left after one batch and never closed: garbage collection stops the workers.
    stream = HostInput(source, options=InputOptions(num_workers=1)).stream(
        plan(len(source)), first_step=0
    )
    next(stream)
    assert children()
    del stream
    gc.collect()
    wait_no_children()


LOOP = """
import multiprocessing, signal, sys, time
import numpy as np
from lgl_spl.data import synthetic_jpegs
from lgl_spl.data.input_pipeline import HostInput, InputOptions
from lgl_spl.data.random_access import RandomAccessSource

if __name__ == "__main__":
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))  # as PreemptionWatch does
    src = RandomAccessSource(synthetic_jpegs.NAME, "train", data_dir=sys.argv[1])
    inp = HostInput(src, options=InputOptions(num_workers=1))
    stream = inp.stream(np.zeros((50, 4), np.int32), first_step=0)
    next(stream)
    print(*[p.pid for p in multiprocessing.active_children()], flush=True)
    while not stop:
        time.sleep(0.05)
    for _ in range(3):  # finish the step, checkpoint: more batches after the signal
        next(stream)
    print("3 batches after SIGTERM", flush=True)
    raise SystemExit(143)  # the stream is never closed: exit must stop its worker
"""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_workers_outlive_neither_a_preempted_nor_a_killed_loop(data_dir, tmp_path, signum):
    """SIGTERM to the process group: the loop still gets batches, then exits without
    closing its stream. SIGKILL to the loop alone: no chance to close; the workers notice
    that their parent died."""
    path = tmp_path / "loop.py"
    path.write_text(LOOP)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.Popen(
        [sys.executable, str(path), data_dir],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a scheduler's job has
    )
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert workers
        if signum == signal.SIGTERM:
            os.killpg(proc.pid, signum)
        else:  # the loop alone (the OOM killer's choice), not its workers
            os.kill(proc.pid, signum)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    if signum == signal.SIGTERM:
        assert "3 batches after SIGTERM" in out and proc.returncode == 143
    deadline = time.time() + 10
    alive = workers
    while alive and time.time() < deadline:
        time.sleep(0.1)
        alive = [p for p in workers if os.path.exists(f"/proc/{p}")]
    assert not alive, f"workers {alive} outlived the loop"


# ---- options and the feeder ------------------------------------------------------------


def test_options():
    assert InputOptions.from_config(ml_collections.ConfigDict()) == InputOptions()
    cfg = ml_collections.ConfigDict(dict(num_workers=3, prefetch=5, chunk=16))
    assert InputOptions.from_config(cfg) == InputOptions(3, 5, 16)
    assert InputOptions().workers >= 1 and InputOptions(num_workers=2).depth == 4
    assert InputOptions(num_workers=0).depth == 4 and InputOptions(0, 7).depth == 7
    for bad in (dict(num_workers=-2), dict(prefetch=-1), dict(chunk=0)):
        with pytest.raises(ConfigError):
            InputOptions(**bad)


def test_streaming_feeder(source):
    """The loop's view: a round's step arguments and a pass's (arguments, weights), as for
    the in-memory feeder."""
    mesh = parallel.make_mesh(0)
    cfg = ml_collections.ConfigDict(dict(name="imagenet2012", augment="default", num_workers=0))
    feeder = make_feeder(None, source.labels, source, mesh, data_cfg=cfg, seed=2)
    assert isinstance(feeder, StreamingHostFeeder) and feeder.input.augment
    assert feeder.host_batches and feeder.size == len(source)
    assert not make_feeder(None, source.labels, source, mesh).input.augment  # no config
    cfg.augment = "none"
    assert not make_feeder(None, source.labels, source, mesh, data_cfg=cfg).input.augment

    indices = plan(len(source), steps=2)
    rows = feeder.round_batches(indices, first_step=0, start=0, stop=2)
    x, y, local = next(rows)
    rows.close()
    assert isinstance(x, jax.Array) and x.shape == (8, SIZE, SIZE, 3)
    np.testing.assert_array_equal(np.asarray(y), source.labels[indices[0]])
    np.testing.assert_array_equal(np.asarray(local), np.arange(8))
    resumed = feeder.round_batches(indices, first_step=0, start=1, stop=2)
    (x1, _, _) = next(resumed)  # row 1 alone: the same crops as in a full round
    full = list(feeder.round_batches(indices, first_step=0, start=0, stop=2))
    np.testing.assert_array_equal(np.asarray(x1), np.asarray(full[1][0]))
    x2, y2, _ = feeder.batch(indices[0])  # synchronous: the eval transform
    np.testing.assert_array_equal(np.asarray(x2), source.gather(indices[0]))
    np.testing.assert_array_equal(np.asarray(y2), np.asarray(y))
    batches = list(feeder.pass_batches(16))
    assert [len(args[1]) for args, _ in batches] == [16, 16] and batches[-1][1].sum() == 14

    device = DeviceFeeder(np.zeros((30, 2, 2, 1), np.uint8), np.arange(30) % 3, mesh)
    weights = [w for _, w in device.pass_batches(16)]
    assert [len(w) for w in weights] == [16, 16] and weights[-1].sum() == 14
