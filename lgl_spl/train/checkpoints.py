"""Checkpoints with orbax: the train state, the sampler state, the round's plan, the meters.

Orbax writes each step into a temporary directory and renames it when complete
(after writing ``commit_success.txt`` into it), so a process killed while saving
leaves either a ``<step>.orbax-checkpoint-tmp-*`` directory, which is never
listed as a step, or nothing. As a second line of defence, a step directory
without the commit marker (a copy interrupted half-way, a file system that
lost the rename's contents) is never restored: it is moved aside to
``<step>.incomplete`` and the newest complete checkpoint is used instead.

A complete checkpoint can still be damaged afterwards (a truncated or missing file,
garbage bytes in the array data, files emptied by a power cut). Every save therefore
stores a CRC-32 of each array with the checkpoint's JSON side; a restore that cannot
read the files, or reads arrays whose checksums differ, raises :class:`Damaged`, and
:func:`lgl_spl.train.resume.restore_newest` falls back to the previous checkpoint.
A save that fails (no space left, a permission change) raises
:class:`~lgl_spl.errors.SaveError`; orbax writes into a temporary directory and
renames it only when complete, so the previous checkpoints are untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
import zlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from lgl_spl.errors import ConfigError, SaveError

COMMIT_MARKER = "commit_success.txt"  # written by orbax just before the final rename
_ITEMS = ("state", "meta")
_CHECKSUMS = "checksums"  # key of the per-array CRC-32s in a checkpoint's JSON side


def _path(path) -> str:
    """``train/opt_state/1/mu`` for a tree path (orbax's metadata tree turns tuples into
    lists or dicts, so only the keys' names are compared)."""
    return "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)


class Damaged(Exception):
    """A complete checkpoint whose files cannot be read back as they were written."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"step {step}: {reason}")
        self.step = step
        self.reason = reason


def _quiet_closed_loop_callbacks() -> None:
    """Drop the "Event loop is closed" reports of a failed restore's stray callbacks.

    When a damaged checkpoint fails to restore, orbax closes its event loop while
    tensorstore still completes the other reads; each completion then raises in
    ``call_soon_threadsafe`` and Python prints it as an unraisable exception: dozens
    of tracebacks after the one line that says what happened. Only that error (and
    asyncio's report of those reads' failures) is dropped; every other unraisable
    exception reaches the previous hook.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_lgl_spl", False):
        return

    def hook(unraisable):
        error = unraisable.exc_value
        if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
            return
        previous(unraisable)

    hook._lgl_spl = True
    sys.unraisablehook = hook
    # The same reads' futures, garbage-collected unretrieved, are logged by asyncio.
    logging.getLogger("asyncio").addFilter(_drop_failed_reads)


def _drop_failed_reads(record: logging.LogRecord) -> bool:
    """False for asyncio's report of a tensorstore read that a failed restore abandoned."""
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        text += str(record.exc_info[1])
    return not ("exception was never retrieved" in text and "OCDBT database" in text)


@contextlib.contextmanager
def _one_line_errors():
    """Orbax logs a failed save or restore with its traceback before raising; the run
    reports the failure itself, in one line, so orbax's error logs are held back here."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _first_line(error: BaseException) -> str:
    """The gist of a library error on one line: tensorstore's spans several lines, ends with
    its spec and quotes whole paths (the checkpoint's directory is named beside it); the
    reason, last, is kept when the text must be cut."""
    text = " ".join(str(error).split()).split(" [tensorstore_spec=")[0]
    text = re.sub(r'"(/[^"]*/)([^"/]*)"', r'"…/\2"', text)
    if len(text) > 300:
        text = f"{text[:100]} … {text[-190:]}"
    return text or type(error).__name__


def checksums(tree: Any) -> list[int]:
    """A CRC-32 of every leaf's bytes, in ``tree_leaves`` order.

    Device arrays are read from their first local copy: the state is replicated,
    and a restore places every leaf with the sharding it was saved with.
    """
    out = []
    for x in jax.tree.leaves(tree):
        if isinstance(x, jax.Array):
            x = x.addressable_data(0)
        out.append(zlib.crc32(np.ascontiguousarray(np.asarray(x)).tobytes()))
    return out


def _step_dirs(directory: str) -> dict[int, str]:
    """Finalised-looking step directories: the names orbax gives them (plain integers)."""
    if not os.path.isdir(directory):
        return {}
    out = {}
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if name.isdigit() and os.path.isdir(path):
            out[int(name)] = path
    return out


def incomplete_steps(directory: str) -> list[int]:
    """Steps whose directory exists but was never completed.

    A step is complete when it holds orbax's commit marker. Orbax versions that
    write no marker on local disks are recognised by none of the steps having
    one; then a step is complete when every saved item is present.
    """
    steps = _step_dirs(directory)
    marked = {s for s, p in steps.items() if os.path.isfile(os.path.join(p, COMMIT_MARKER))}
    if marked:
        return sorted(set(steps) - marked)
    return sorted(
        s for s, p in steps.items() if not all(os.path.isdir(os.path.join(p, i)) for i in _ITEMS)
    )


def complete_steps(directory: str) -> list[int]:
    """Steps whose directory on disk is complete (orbax's listing aside), oldest first."""
    return sorted(set(_step_dirs(directory)) - set(incomplete_steps(directory)))


def kept_note(directory: str, *, failed_step: int | None = None, failure: bool = True) -> str:
    """What a person reads after a failed write or an interrupt: which checkpoint still
    stands, what to do. A step whose save failed is never named as kept, whatever the
    disk shows for it (another process, or a partial write, may have put it there)."""
    steps = [s for s in complete_steps(directory) if failed_step is None or s < failed_step]
    if not steps:
        start = "fix the cause and re-run the command" if failure else "re-run it to start over"
        return f"no checkpoint was saved yet; {start}"
    fix = "free the space (or fix the permissions) and " if failure else ""
    return (
        f"the checkpoint at step {steps[-1]} is kept; {fix}re-run the same command to "
        "resume from it"
    )


class Checkpoints:
    def __init__(self, directory: str, *, max_to_keep: int = 2):
        _quiet_closed_loop_callbacks()
        self.directory = os.path.abspath(directory)
        if jax.process_index() == 0:
            self._set_aside_incomplete()
        with _one_line_errors():  # a damaged step's metadata is reported when it is restored
            self.manager = ocp.CheckpointManager(
                self.directory,
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=max_to_keep,
                    create=True,
                    enable_async_checkpointing=False,
                    cleanup_tmp_directories=True,
                ),
            )

    def _set_aside_incomplete(self) -> None:
        for step in incomplete_steps(self.directory):
            src = os.path.join(self.directory, str(step))
            dst = f"{src}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}"
            os.replace(src, dst)
            print(
                f"warning: the checkpoint at step {step} was never completed (the process "
                f"died while saving it); moved aside to {dst}",
                file=sys.stderr,
                flush=True,
            )

    def steps(self) -> list[int]:
        """The *complete* checkpoints' steps, oldest first.

        Read from the disk, not only from the manager's listing, so every process of a
        multi-process run agrees even when another one set a step aside meanwhile.
        """
        on_disk = set(complete_steps(self.directory))
        return sorted(s for s in self.manager.all_steps() if s in on_disk)

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step (None when there is none)."""
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, step: int, tree: Any, meta: dict) -> None:
        """Save ``tree`` at ``step``; a failure is a :class:`SaveError` and leaves the others."""
        meta = {**meta, _CHECKSUMS: checksums(tree)}
        try:
            with _one_line_errors():
                self.manager.save(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)
                    ),
                    force=True,
                )
                self.manager.wait_until_finished()
        except Exception as e:  # noqa: BLE001 - a full disk, a permission change, …
            # The run stops here, but orbax's writer threads and tasks may still log the same
            # failure with its traceback while the process exits (through absl, or asyncio's
            # "exception was never retrieved"): keep those logs quiet from now on.
            for name in ("absl", "asyncio"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
            kept = kept_note(self.directory, failed_step=step)
            raise SaveError(
                f"cannot save the checkpoint at step {step} in {self.directory} "
                f"({type(e).__name__}: {_first_line(e)}); {kept}"
            ) from None

    def restore_meta(self, step: int) -> dict:
        """The JSON side of a checkpoint (step, round, config fingerprint …), read alone.

        Raises :class:`Damaged` when it cannot be read.
        """
        try:
            with _one_line_errors():
                restored = self.manager.restore(
                    step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
                )
            meta = restored["meta"]
            if not isinstance(meta, dict) or "config" not in meta:
                raise ValueError("its JSON side holds no config")
        except Exception as e:  # noqa: BLE001 - what the files hold decides, not the library
            raise Damaged(step, f"{type(e).__name__}: {_first_line(e)}") from None
        return meta

    def restore(self, step: int, like: Any) -> tuple[Any, dict]:
        """Restore into the structure (and shardings) of ``like``.

        Raises :class:`Damaged` when the files cannot be read or their arrays differ
        from the checksums saved with them, and :class:`ConfigError` when they are
        intact but do not fit this run (another structure or shape).
        """

        def abstract(x):
            if isinstance(x, jax.Array):
                return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
            return np.asarray(x)

        try:
            with _one_line_errors():
                restored = self.manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(jax.tree.map(abstract, like)),
                        meta=ocp.args.JsonRestore(),
                    ),
                )
        except Exception as e:  # noqa: BLE001 - sorted into "damaged" and "does not fit"
            misfit = self._misfit(step, like)
            if misfit:
                raise self._unreadable(step, misfit) from None
            raise Damaged(step, f"{type(e).__name__}: {_first_line(e)}") from None
        # Orbax checks the shapes of device arrays only; host (numpy) leaves come back as saved.
        got = jax.tree_util.tree_flatten_with_path(restored["state"])[0]
        want = jax.tree_util.tree_leaves(like)
        for (path, a), b in zip(got, want, strict=True):
            if np.shape(a) != np.shape(b):
                raise self._unreadable(
                    step,
                    f"{jax.tree_util.keystr(path)} has shape {np.shape(a)} in the checkpoint "
                    f"but {np.shape(b)} in this run",
                )
        meta = dict(restored["meta"])
        saved = meta.pop(_CHECKSUMS, None)  # checkpoints written before checksums have none
        if saved is not None:
            if len(saved) != len(got):
                raise Damaged(step, f"{len(saved)} checksums saved for {len(got)} arrays")
            for (path, _), want_crc, crc in zip(
                got, saved, checksums(restored["state"]), strict=True
            ):
                if want_crc != crc:
                    raise Damaged(
                        step, f"the array {jax.tree_util.keystr(path)} differs from its checksum"
                    )
        return restored["state"], meta

    def _misfit(self, step: int, like: Any) -> str | None:
        """Why an intact checkpoint's arrays cannot fit ``like`` (None: they could, or unknown)."""
        try:
            with _one_line_errors():
                saved = self.manager.item_metadata(step)["state"]
            saved_shapes = {
                _path(p): tuple(m.shape) for p, m in jax.tree_util.tree_flatten_with_path(saved)[0]
            }
        except Exception:  # noqa: BLE001 - unreadable metadata: damage, not a misfit
            return None
        wanted = {
            _path(p): tuple(np.shape(x)) for p, x in jax.tree_util.tree_flatten_with_path(like)[0]
        }
        if set(saved_shapes) != set(wanted):
            extra = sorted(set(saved_shapes) ^ set(wanted))
            return f"the checkpoint and this run hold different arrays ({extra[0]}, …)"
        for key, shape in wanted.items():
            if saved_shapes[key] != shape:
                return f"{key} has shape {saved_shapes[key]} in the checkpoint but {shape} here"
        return None

    def set_aside(self, steps: list[int], why: str) -> None:
        """Move step directories to ``<step>.<why>-<time>`` (by process 0; kept, not deleted)."""
        if jax.process_index() == 0:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for step in steps:
                src = os.path.join(self.directory, str(step))
                if os.path.isdir(src):
                    os.replace(src, f"{src}.{why}-{stamp}")
        with _one_line_errors():
            self.manager.reload()

    def _unreadable(self, step: int, reason: str) -> ConfigError:
        return ConfigError(
            f"the checkpoint at step {step} in {self.directory} cannot be restored into this "
            f"run ({reason}); resume with the config that made it, or use a new --workdir"
        )

    def close(self) -> None:
        self.manager.close()
