"""The persistent compilation cache: where it lives, what turns it off, unreadable entries.

Runs that use the cache do so in subprocesses with their own cache directory: the test
session's own cache (tests/conftest.py) is never replaced, and the user's ~/.cache is
never touched (HOME and XDG_CACHE_HOME point into tmp_path).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from lgl_spl import compile_cache
from lgl_spl.compile_cache import _AtomicFileStore
from tests.helpers import REPO, cli_env, read_metrics

# One jitted program, compiled (or loaded) through lgl_spl's cache set-up.
_PROGRAM = """
import json, sys, jax, jax.numpy as jnp
from lgl_spl import compile_cache
where = compile_cache.enable(sys.argv[1])
y = jax.jit(lambda x: jnp.tanh(x) @ x.T + 3.0)(jnp.ones((7, 5)))
print(json.dumps({"dir": where, "sum": float(y.sum()), **vars(compile_cache.counts())}))
"""


def _env(tmp_path, **extra) -> dict:
    env = dict(os.environ, HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    for name in (
        "JAX_COMPILATION_CACHE_DIR",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
    ):
        env.pop(name, None)
    env.update(extra)
    return env


def _program(env, setting="auto") -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROGRAM, setting],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _entries(path) -> list[str]:
    if not os.path.isdir(path):
        return []
    return sorted(n for n in os.listdir(path) if n.endswith("-cache"))


def test_default_dir_follows_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert compile_cache.default_dir() == str(tmp_path / "x" / "lgl_spl" / "xla")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert compile_cache.default_dir() == str(tmp_path / "h" / ".cache" / "lgl_spl" / "xla")


@pytest.mark.parametrize("setting", ["off", "OFF", "none", "false", "", False, None])
def test_off_words(setting):
    assert compile_cache.choose_dir(setting) is None


def test_a_path_is_used_as_given(tmp_path):
    assert compile_cache.choose_dir(str(tmp_path / "c")) == str(tmp_path / "c")


def test_store_round_trip_and_no_temporary_files(tmp_path):
    import zlib

    store = _AtomicFileStore(str(tmp_path))
    value = zlib.compress(b"\x00" * 64)
    assert store.get("jit_f-abc") is None
    store.put("jit_f-abc", value)
    assert store.get("jit_f-abc") == value
    assert os.listdir(tmp_path) == ["jit_f-abc-cache"]  # renamed into place, nothing left over


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_unreadable_entry_is_removed_not_raised(tmp_path, damage):
    import zlib

    store = _AtomicFileStore(str(tmp_path))
    good = zlib.compress(os.urandom(256))
    store.put("k", good)
    path = tmp_path / "k-cache"
    bad = {"truncate": good[: len(good) // 2], "garbage": b"not an entry", "empty": b""}[damage]
    path.write_bytes(bad)
    assert store.get("k") is None
    assert not path.exists()  # so the recompiled program is stored again
    store.put("k", good)
    assert store.get("k") == good


def test_default_cache_is_used_and_loaded_by_the_next_process(tmp_path):
    env = _env(tmp_path)
    first = _program(env)
    where = str(tmp_path / "xdg" / "lgl_spl" / "xla")
    assert first["dir"] == where
    assert first["loaded"] == 0 and first["stored"] >= 1
    assert _entries(where)
    second = _program(env)
    assert second["loaded"] >= 1 and second["stored"] == 0
    assert second["sum"] == first["sum"]


def test_jax_own_directory_wins(tmp_path):
    own = tmp_path / "jax_own"
    out = _program(_env(tmp_path, JAX_COMPILATION_CACHE_DIR=str(own)))
    assert out["dir"] == str(own)
    assert _entries(own)
    assert not (tmp_path / "xdg").exists()


def test_off_writes_nothing(tmp_path):
    out = _program(_env(tmp_path), "off")
    assert out["dir"] is None and out["stored"] == 0 and out["loaded"] == 0
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


def test_corrupt_entries_are_recompiled(tmp_path):
    env = _env(tmp_path)
    first = _program(env)
    where = tmp_path / "xdg" / "lgl_spl" / "xla"
    for name in _entries(where):  # every entry cut in half, as by a killed writer
        data = (where / name).read_bytes()
        (where / name).write_bytes(data[: len(data) // 2])
    second = _program(env)
    assert second["sum"] == first["sum"]
    assert second["removed"] >= 1 and second["loaded"] == 0 and second["stored"] >= 1
    third = _program(env)  # the entries were written again, whole
    assert third["loaded"] >= 1 and third["removed"] == 0


def test_unwritable_directory_does_not_fail(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would go")
    out = _program(_env(tmp_path), str(blocker / "xla"))
    assert out["dir"] is None


@pytest.mark.slow
def test_run_after_corrupting_the_cache(tmp_path):
    """The CLI with the default cache: cold, every entry corrupted, then warm; same results."""
    env = _env(tmp_path, XLA_FLAGS=cli_env()["XLA_FLAGS"])
    args = ["--config", "tests/reliability/tiny.py", "--config.train.num_steps=20"]

    def cli(workdir):
        out = subprocess.run(
            [sys.executable, "-m", "lgl_spl.main", *args, "--workdir", str(workdir)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        return out.stderr

    cli(tmp_path / "cold")
    where = tmp_path / "xdg" / "lgl_spl" / "xla"
    names = _entries(where)
    assert names
    for name in names:
        (where / name).write_bytes(b"\x00" * 10)
    text = cli(tmp_path / "corrupt")
    assert "was unreadable; removed it and compiling the program again" in text
    warm = cli(tmp_path / "warm")
    assert re.search(r"compilation cache: (\d+) of \1 programs loaded", warm), warm
    assert read_metrics(tmp_path / "cold") == read_metrics(tmp_path / "corrupt")
    assert read_metrics(tmp_path / "cold") == read_metrics(tmp_path / "warm")
