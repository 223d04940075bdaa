"""Proxy scoring for online selection (Selection via Proxy): the proxy chooses, the student
trains on what it chose exactly as on any batch, the proxy trains on the same batch, and
its passes are counted as its own."""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lgl_spl import configlib, parallel
from lgl_spl.core.step_selection import highest_loss
from lgl_spl.data import AugmentSpec
from lgl_spl.models import get_model
from lgl_spl.samplers import Proxy
from lgl_spl.train import train_and_evaluate
from lgl_spl.train.state import TrainState, create_train_state, make_optimizer, make_schedule
from lgl_spl.train.steps import StepBatch, make_steps
from tests.helpers import read_metrics, read_rows
from tests.reliability.common import (
    call_main,
    config,
    crash_at,
    error_lines,
    same_metrics,
)

BATCH, WIDTH = 16, 64
SPEC = AugmentSpec((0.3,), (0.35,))  # no crop or flip: train-mode images are deterministic


def _parts(num_devices: int):
    mesh = parallel.make_mesh(num_devices)
    cfg = configlib.base_config().train
    student = get_model("lenet", num_classes=10, width=0.5)
    proxy = get_model("lenet", num_classes=10, width=0.25)
    tx, schedule = make_optimizer(cfg), make_schedule(cfg)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (200, 8, 8, 1), dtype=np.uint8)
    y = rng.integers(0, 10, 200).astype(np.int32)
    return mesh, student, proxy, tx, schedule, x, y


def _proxy_steps(num_devices: int, count: int = 3):
    """``count`` selecting steps scored by a proxy: (the states before each step, outputs)."""
    mesh, student, proxy, tx, schedule, x, y = _parts(num_devices)
    steps = make_steps(student, tx, schedule, SPEC, mesh, selector=highest_loss,
                       batch_size=BATCH, proxy_model=proxy)  # fmt: skip
    sample = jnp.zeros((1, 8, 8, 1))
    state = create_train_state(student, tx, jax.random.key(0), sample,
                               proxy=(proxy, jax.random.key(5)))  # fmt: skip
    put = functools.partial(parallel.put_replicated, mesh=mesh)
    state, key, mask = put(state), put(jax.random.key(3)), put(np.ones(10, bool))
    rows = np.random.default_rng(2).integers(0, 200, (count, WIDTH)).astype(np.int32)
    befores, outs = [], []
    for row in rows:
        befores.append(jax.device_get(state))
        weights = parallel.put_batch(np.ones(WIDTH, np.float32), mesh)
        batch = StepBatch(put(x), put(y), parallel.put_batch(row, mesh), weights)
        state, out = steps.train(state, batch, key, jnp.float32(0), mask, {})
        outs.append(jax.tree.map(np.asarray, out))
    return befores + [jax.device_get(state)], outs, rows


def _plain_step(model, tx, schedule, params, batch_stats, opt_state, step, x, y, kept):
    """One update of ``model`` on ``kept`` with the package's plain (selector-free) step."""
    mesh = parallel.make_mesh(1)
    steps = make_steps(model, tx, schedule, SPEC, mesh)
    state = TrainState(step=step, params=params, batch_stats=batch_stats, opt_state=opt_state)
    put = functools.partial(parallel.put_replicated, mesh=mesh)
    weights = parallel.put_batch(np.ones(len(kept), np.float32), mesh)
    batch = StepBatch(put(x), put(y), parallel.put_batch(kept, mesh), weights)
    new, _ = steps.train(
        put(state), batch, put(jax.random.key(3)), jnp.float32(0), put(np.ones(10, bool)), {}
    )
    return jax.device_get(new)


def test_the_proxy_chooses_and_both_networks_train_on_its_choice():
    states, outs, rows = _proxy_steps(1)
    _, student, proxy, tx, schedule, x, y = _parts(1)
    for before, after, out, row in zip(states, states[1:], outs, rows, strict=False):
        # The kept examples are the highest losses under the proxy's parameters.
        p = before.proxy
        images = (x[row].astype(np.float32) / 255.0 - 0.3) / 0.35
        logits, _ = proxy.apply({"params": p.params}, images, train=False)
        losses = np.asarray(optax.softmax_cross_entropy_with_integer_labels(logits, y[row]))
        want = row[np.argsort(-losses, kind="stable")[:BATCH]]
        assert sorted(out["selected"].tolist()) == sorted(want.tolist())
        # The student's update is a plain step on the kept examples; so is the proxy's.
        kept = out["selected"]
        s = _plain_step(student, tx, schedule, before.params, before.batch_stats,
                        before.opt_state, before.step, x, y, kept)  # fmt: skip
        q = _plain_step(proxy, tx, schedule, p.params, p.batch_stats, p.opt_state, before.step,
                        x, y, kept)  # fmt: skip
        for a, b in ((s.params, after.params), (q.params, after.proxy.params)):
            jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-6), a, b)
        # Counted: the student scored nothing; the proxy scored the row and trained on the batch.
        assert out["extra_forward"] == 0 and out["scored"] == WIDTH
        assert int(after.proxy.forward) - int(p.forward) == WIDTH + BATCH
        assert int(after.proxy.backward) - int(p.backward) == BATCH


def test_two_devices_choose_what_one_does_with_a_proxy():
    (_, one, _), (_, two, _) = (_proxy_steps(n) for n in (1, 2))
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a["selected"], b["selected"])


def test_a_proxy_needs_a_selector_and_a_positive_width():
    mesh, student, proxy, tx, schedule, *_ = _parts(1)
    with pytest.raises(ValueError, match="a proxy scores a step-level selector's candidates"):
        make_steps(student, tx, schedule, SPEC, mesh, proxy_model=proxy)
    with pytest.raises(ValueError, match="Proxy.width must be positive"):
        Proxy(width=0)


def _proxy_config(name="online_hard", **train):
    c = config(name, **train)
    c.method.scorer = "proxy"
    return c


def test_the_program_counts_the_proxy_apart_and_records_its_size(tmp_path):
    train_and_evaluate(_proxy_config(), str(tmp_path))
    rows = read_metrics(str(tmp_path))
    spr = read_rows(str(tmp_path), "rounds.jsonl")[0]["step"]  # the warm-up round
    for r in rows:
        scored = 96 * max(r["step"] - spr, 0)
        assert r["scoring_forward_passes"] == 0  # the student scored nothing
        assert r["proxy_backward_passes"] == 32 * r["step"]
        assert r["proxy_forward_passes"] == scored + 32 * r["step"]
        assert r["extra_forward_passes"] == r["proxy_forward_passes"]
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert 0 < info["proxy_params"] < info["student_params"]
    # The round records are those of any selecting run: from the proxy's scores.
    for r in read_rows(str(tmp_path), "rounds.jsonl")[1:]:
        assert r["candidate_loss"] is not None and r["selected_fraction"] == pytest.approx(1 / 3)


def test_a_crash_resumes_exactly_with_the_proxy_state(tmp_path, monkeypatch):
    ref, run = tmp_path / "ref", tmp_path / "run"
    train_and_evaluate(_proxy_config("rho_loss"), str(ref))
    crash_at(monkeypatch, 27, _proxy_config("rho_loss", checkpoint_every=10), run)
    train_and_evaluate(_proxy_config("rho_loss", checkpoint_every=10), str(run))
    same_metrics(run, ref)
    assert read_metrics(str(run))[-1]["proxy_backward_passes"] == 32 * 60


@pytest.mark.parametrize(
    "setting, message",
    [
        ("--config.method.proxy_width=0", "error: method.proxy_width"),
        ("--config.method.proxy_model=no_such_net", "error: unknown model"),
    ],
)
def test_bad_proxy_settings_are_one_line(tmp_path, monkeypatch, capsys, setting, message):
    code, stderr, _ = call_main(
        monkeypatch, capsys, "--config", "tests/reliability/tiny.py:online_hard",
        "--workdir", str(tmp_path), "--config.method.scorer=proxy", setting,
    )  # fmt: skip
    assert code == 2
    (line,) = error_lines(stderr)
    assert line.startswith(message), line
