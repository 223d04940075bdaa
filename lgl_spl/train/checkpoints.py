"""Checkpoints with orbax: the train state, the sampler state, the round's plan, the meters.

Orbax writes each step into a temporary directory and renames it when complete
(after writing ``commit_success.txt`` into it), so a process killed while saving
leaves either a ``<step>.orbax-checkpoint-tmp-*`` directory, which is never
listed as a step, or nothing. As a second line of defence, a step directory
without the commit marker (a copy interrupted half-way, a file system that
lost the rename's contents) is never restored: it is moved aside to
``<step>.incomplete`` and the newest complete checkpoint is used instead.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from lgl_spl.errors import ConfigError

COMMIT_MARKER = "commit_success.txt"  # written by orbax just before the final rename
_ITEMS = ("state", "meta")


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


class Checkpoints:
    def __init__(self, directory: str, *, max_to_keep: int = 2):
        self.directory = os.path.abspath(directory)
        if jax.process_index() == 0:
            self._set_aside_incomplete()
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

    def latest_step(self) -> int | None:
        """The newest *complete* checkpoint's step (None when there is none).

        Read from the disk, not only from the manager's listing, so every process of a
        multi-process run agrees even when another one set a step aside meanwhile.
        """
        on_disk = set(_step_dirs(self.directory)) - set(incomplete_steps(self.directory))
        steps = [s for s in self.manager.all_steps() if s in on_disk]
        return max(steps) if steps else None

    def save(self, step: int, tree: Any, meta: dict) -> None:
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )
        self.manager.wait_until_finished()

    def restore_meta(self, step: int) -> dict:
        """The JSON side of a checkpoint (step, round, config fingerprint …), read alone."""
        try:
            restored = self.manager.restore(
                step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
            )
        except Exception as e:  # noqa: BLE001 - reported as one line below
            raise self._unreadable(step, e) from None
        return restored["meta"]

    def restore(self, step: int, like: Any) -> tuple[Any, dict]:
        """Restore into the structure (and shardings) of ``like``."""

        def abstract(x):
            if isinstance(x, jax.Array):
                return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
            return np.asarray(x)

        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(jax.tree.map(abstract, like)),
                    meta=ocp.args.JsonRestore(),
                ),
            )
        except Exception as e:  # noqa: BLE001 - reported as one line below
            raise self._unreadable(step, e) from None
        # Orbax checks the shapes of device arrays only; host (numpy) leaves come back as saved.
        got = jax.tree_util.tree_flatten_with_path(restored["state"])[0]
        want = jax.tree_util.tree_leaves(like)
        for (path, a), b in zip(got, want, strict=True):
            if np.shape(a) != np.shape(b):
                raise self._unreadable(
                    step,
                    ValueError(
                        f"{jax.tree_util.keystr(path)} has shape {np.shape(a)} in the checkpoint "
                        f"but {np.shape(b)} in this run"
                    ),
                )
        return restored["state"], restored["meta"]

    def _unreadable(self, step: int, error: Exception) -> ConfigError:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        return ConfigError(
            f"the checkpoint at step {step} in {self.directory} cannot be restored into this "
            f"run ({type(error).__name__}: {reason}); resume with the config that made it, "
            "or use a new --workdir"
        )

    def close(self) -> None:
        self.manager.close()
