"""The persistent compilation cache: a program is compiled once per machine, not once per run.

Most of a small CPU run is XLA compiling the same few programs (train step, evaluation,
scoring) that the last run with the same shapes already compiled. A run therefore keeps
its compiled programs in a directory and loads them from there the next time:

* ``train.compilation_cache = "auto"`` (the default): ``$JAX_COMPILATION_CACHE_DIR``
  when set (JAX's own setting wins), else ``$XDG_CACHE_HOME/lgl_spl/xla`` (``~/.cache``
  when ``XDG_CACHE_HOME`` is unset);
* ``"off"``: no cache (takes effect in a process that has not compiled with one yet);
* any other value: that directory.

Every program is cached however quickly it compiled (the CPU's programs compile in well
under JAX's default one-second threshold). An entry's key is JAX's: a hash of the program,
the jaxlib and backend versions, the XLA flags and the compile options, so an upgrade or a
different device only misses. Entries are written to a temporary file and renamed into
place, so processes sharing the directory (a sweep with ``--jobs 2``) never read half an
entry; an entry that cannot be read (a truncated file, a disk error) is removed and the
program compiled again, never failing the run. Only process 0 of a multi-process run writes.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile
import threading

import jax

AUTO, OFF = "auto", "off"
_OFF_WORDS = (OFF, "none", "false", "0", "no", "")

# Every program is cached (JAX's option, our value), unless the user set JAX's variable.
_THRESHOLDS = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
}


def _say(message: str) -> None:
    from lgl_spl.train import console  # not at import: lgl_spl.train imports this module

    console.info(message)


def _seconds(s: float) -> str:
    from lgl_spl.train import console

    return console.seconds(s)


def default_dir() -> str:
    """``$XDG_CACHE_HOME/lgl_spl/xla``, or ``~/.cache/lgl_spl/xla``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lgl_spl", "xla")


def choose_dir(setting) -> str | None:
    """The directory a run with ``train.compilation_cache = setting`` uses (None: off)."""
    text = str(setting).strip()
    if text.lower() in _OFF_WORDS or setting is False or setting is None:
        return None
    if text.lower() == AUTO:
        # JAX reads JAX_COMPILATION_CACHE_DIR into this option when it is imported.
        return jax.config.jax_compilation_cache_dir or default_dir()
    return os.path.expanduser(text)


@dataclasses.dataclass
class _Counts:
    loaded: int = 0
    saved_s: float = 0.0
    programs: int = 0  # compiled or loaded
    xla_s: float = 0.0  # spent compiling and loading
    stored: int = 0
    removed: int = 0


_lock = threading.Lock()
_counts = _Counts()
_directory: str | None = None
_listening = False


def enable(setting=AUTO) -> str | None:
    """Set the cache up for this process from the config value; return its directory.

    Returns None when the cache is off or its directory cannot be written (the run then
    compiles as if there were no cache, and says so).
    """
    global _directory, _counts
    _listen()
    with _lock:
        _counts = _Counts()
    path = choose_dir(setting)
    if path is None:
        _disable()
        return None
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as e:
        _say(
            f"compilation cache {path} cannot be written ({e.strerror or e}); compiling without it"
        )
        _disable()
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    if jax.config.jax_compilation_cache_dir != path:
        jax.config.update("jax_compilation_cache_dir", path)
    for option, value in _THRESHOLDS.items():
        if option.upper() not in os.environ:
            jax.config.update(option, value)
    _directory = _install_safe_store(path)
    return _directory


def _disable() -> None:
    global _directory
    _directory = None
    jax.config.update("jax_enable_compilation_cache", False)
    try:  # JAX decides once per process whether to use its cache: make it decide again
        from jax._src import compilation_cache as cc

        cc.reset_cache()
    except (ImportError, AttributeError):  # pragma: no cover - other jax internals
        pass


def counts() -> _Counts:
    """What the cache did since :func:`enable` (this process)."""
    with _lock:
        return dataclasses.replace(_counts)


def entries(path: str | None = None) -> int:
    """How many compiled programs the cache directory holds."""
    path = path or _directory
    try:
        return sum(name.endswith("-cache") for name in os.listdir(path)) if path else 0
    except OSError:
        return 0


def summary() -> str | None:
    """One console line: programs loaded from the cache, programs compiled, time in XLA."""
    c = counts()
    if _directory is None or c.programs == 0:
        return None
    text = (
        f"compilation cache: {c.loaded} of {c.programs} programs loaded from it "
        f"({_seconds(c.saved_s)} of compiling saved), {c.stored} compiled and stored; "
        f"{_seconds(c.xla_s)} spent compiling and loading"
    )
    if c.removed:
        text += f"; {c.removed} unreadable entr{'y' if c.removed == 1 else 'ies'} replaced"
    return text


# -- JAX's monitoring events: what was loaded, what was compiled ------------------------

_HIT = "/jax/compilation_cache/cache_hits"
_SAVED = "/jax/compilation_cache/compile_time_saved_sec"
_STORED = "/jax/compilation_cache/cache_misses"  # JAX records it when it writes an entry
_COMPILED = "/jax/core/compile/backend_compile_duration"


def _listen() -> None:
    global _listening
    if _listening:
        return
    jax.monitoring.register_event_listener(_on_event)
    jax.monitoring.register_event_duration_secs_listener(_on_duration)
    _listening = True


def _on_event(event: str, **kwargs) -> None:
    del kwargs
    with _lock:
        if event == _HIT:
            _counts.loaded += 1
        elif event == _STORED:
            _counts.stored += 1


def _on_duration(event: str, duration: float, **kwargs) -> None:
    del kwargs
    with _lock:
        if event == _SAVED:
            _counts.saved_s += max(float(duration), 0.0)
        elif event == _COMPILED:  # a compilation or a load from the cache
            _counts.programs += 1
            _counts.xla_s += float(duration)


# -- The store: atomic writes, unreadable entries removed --------------------------------


def _install_safe_store(path: str) -> str:
    """Have JAX read and write entries through :class:`_AtomicFileStore`.

    JAX's own file store writes an entry in place and never rewrites an existing one: a
    process killed mid-write would leave a truncated entry that every later run fails to
    read and recompiles. The store is swapped in through JAX's internals when they look as
    expected (jax 0.4.36 to 0.10); otherwise JAX's own store is used, which still only
    warns on an unreadable entry.
    """
    try:
        from jax._src import compilation_cache as cc
        from jax._src.lru_cache import LRUCache
    except ImportError:  # pragma: no cover - a jax without these internals
        return path
    if getattr(cc, "_cache", None) is not None and not isinstance(
        cc._cache, LRUCache | _AtomicFileStore
    ):
        return path  # someone else's store
    if isinstance(cc._cache, _AtomicFileStore) and cc._cache.path == path:
        return path
    if cc._cache is not None:
        cc.reset_cache()
    if jax.config.jax_compilation_cache_max_size != -1:
        return path  # JAX's store evicts by size; keep it
    cc._initialize_cache()
    if isinstance(cc._cache, LRUCache):
        cc._cache = _AtomicFileStore(path)
    return path


class _AtomicFileStore:
    """JAX's file layout (``<key>-cache``), written atomically; unreadable entries removed."""

    _SUFFIX = "-cache"

    def __init__(self, path: str):
        self.path = path
        self._path = pathlib.Path(path)  # JAX's reset_cache() logs it
        os.makedirs(path, exist_ok=True)

    def _file(self, key: str) -> str:
        if not key or os.sep in key:
            raise ValueError(f"bad cache key {key!r}")
        return os.path.join(self.path, key + self._SUFFIX)

    def get(self, key: str) -> bytes | None:
        file = self._file(key)
        try:
            with open(file, "rb") as f:
                value = f.read()
        except FileNotFoundError:
            return None
        except OSError:
            return self._drop(file)
        try:
            _check(value)
        except Exception:  # noqa: BLE001 - whatever is wrong with it, compile afresh
            return self._drop(file)
        return value

    def put(self, key: str, value: bytes) -> None:
        file = self._file(key)
        if os.path.exists(file):
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(value)
                os.replace(tmp, file)  # atomic: a reader sees all of the entry or none
            except BaseException:
                try:
                    os.remove(tmp)
                except OSError:
                    pass
                raise
        except OSError as e:  # a full disk: the run goes on uncached
            _say(f"could not write a compilation cache entry: {e.strerror or e}")

    def _drop(self, file: str) -> None:
        try:
            os.remove(file)
        except OSError:
            pass
        with _lock:
            _counts.removed += 1
        _say(
            f"compilation cache entry {os.path.basename(file)[:40]}… was unreadable; "
            "removed it and compiling the program again"
        )
        return None


def _check(value: bytes) -> None:
    """Raise if ``value`` is not a whole entry as JAX writes it (compressed bytes)."""
    from jax._src import compilation_cache as cc

    data = cc.decompress_executable(value)
    if len(data) <= cc._TIME_BYTES:
        raise ValueError("entry too short")


__all__ = ["AUTO", "OFF", "choose_dir", "counts", "default_dir", "enable", "entries", "summary"]
