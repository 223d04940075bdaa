"""One run per workdir: a run holds an exclusive lock on ``DIR/run.lock`` for its whole life.

The lock is ``fcntl.flock`` on an open file, so the kernel drops it when the process ends
however it ends (a crash or SIGKILL leaves no stale lock on a local disk). The holder writes
its PID, host and start time into the file, so a refused second process can name it. In a
multi-process run only the leader takes the lock: the other processes of the same run write
nothing the leader does not coordinate. Limits (docs/reliability.md): on a network file system
``flock`` may be local to each host (older NFS) or unsupported; two hosts may then both
hold it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time

from lgl_spl.errors import ConfigError

LOCK_FILE = "run.lock"


class WorkdirBusy(ConfigError):
    """Another process holds the workdir's lock."""


class WorkdirLock:
    """``with WorkdirLock(workdir):`` holds the lock, or raises :class:`WorkdirBusy` at once."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, LOCK_FILE)
        self._fd: int | None = None

    def acquire(self) -> None:
        # O_CREAT without O_TRUNC: a refused process must not erase the holder's description.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise WorkdirBusy(self._busy_message()) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} host {socket.gethostname()} since {_now()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays (deleting it would race)
            self._fd = None

    def __enter__(self) -> WorkdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _busy_message(self) -> str:
        workdir = os.path.dirname(self.path)
        holder = _read_holder(self.path)
        return (
            f"another run is using the workdir {workdir} ({holder}); wait for it to finish "
            "or stop it, or choose another --workdir"
        )


def claim_workdir(workdir: str, *, leader: bool = True) -> WorkdirLock | None:
    """Create ``workdir`` and, on the leader, take its lock (give it back with ``release()``).

    A workdir that cannot be created or written, or that another run holds, is one
    :class:`ConfigError` line; nothing in it is touched but the lock file.
    """
    try:
        os.makedirs(workdir, exist_ok=True)
        if not leader:
            return None
        lock = WorkdirLock(workdir)
        lock.acquire()
    except WorkdirBusy:
        raise
    except OSError as e:
        raise ConfigError(f"workdir {workdir!r} cannot be written: {e.strerror or e}") from None
    return lock


def holder(workdir: str) -> str | None:
    """The description of the process holding ``workdir``'s lock, or None when it is free."""
    path = os.path.join(workdir, LOCK_FILE)
    if not os.path.exists(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_holder(path)
    finally:
        os.close(fd)  # a shared lock taken here is dropped with the descriptor
    return None


def _read_holder(path: str) -> str:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        text = ""
    parts = text.split()
    if len(parts) >= 4 and parts[0] == "pid" and parts[2] == "host":
        since = " ".join(parts[5:]) if len(parts) > 5 else ""
        return f"PID {parts[1]} on host {parts[3]}" + (f", since {since}" if since else "")
    return "a process that has not yet written its PID"


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
