"""Test set-up: two forced CPU devices, and one XLA compilation cache per pytest session.

Two devices make the data-parallel code paths run. The cache matters for time: many
tests build the same student (a tiny LeNet on digits) and every ``train_and_evaluate``
jits its steps afresh, so without a persistent cache each run, resume and CLI
subprocess recompiles identical programs. The cache is a fresh directory per session
(its xdist workers share it; concurrent sessions never do; directories of finished
sessions are removed), so nothing carries over between sessions. It is given as
``JAX_COMPILATION_CACHE_DIR`` in the environment, which JAX's own setting and a run's
``train.compilation_cache = "auto"`` both follow, so the runs of the tests and every
subprocess they start use it, never the user's ``~/.cache/lgl_spl``. A cached entry is
the executable XLA would build again: results are unchanged, an unreadable entry is
only recompiled, and the tests that count compilations count traces, which the cache
does not touch. An already-configured ``JAX_COMPILATION_CACHE_DIR`` is left alone.
"""

import glob
import os
import shutil
import signal
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The tests stand for a user at a terminal. A shell starts a background job (`pytest ... &`)
# with SIGINT ignored, which the program rightly keeps ignored and every child inherits; the
# Ctrl-C tests would then test that instead. (Python's handler resets to the default on exec.)
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_PREFIX = os.path.join(tempfile.gettempdir(), f"lgl_spl-xla-cache-{os.getuid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _session_cache() -> str:
    # xdist workers are children of the session's main process.
    session = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()
    for old in glob.glob(_PREFIX + "*"):
        pid = old[len(_PREFIX) :]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = f"{_PREFIX}{session}"
    os.makedirs(path, exist_ok=True)
    return path


if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _session_cache()
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402  (after the device flags and the cache's environment)

if not jax.config.jax_compilation_cache_dir:  # jax was imported before this file
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
