"""Resuming: a checkpoint is only continued with the config that made it, and a damaged
checkpoint costs only the steps since the previous good one."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from lgl_spl.errors import ConfigError
from lgl_spl.settings import flatten
from lgl_spl.train.checkpoints import Checkpoints, Damaged

# Config keys that may change between an interrupted run and its resumption
# without changing its results.
RESUME_SAFE_KEYS = (
    "train.log_every",
    "train.checkpoint_every",
    "train.compilation_cache",
    "data.data_dir",
    "data.npz_path",
    "data.path",  # a folder dataset moved elsewhere
    "data.in_memory_limit_mb",  # in memory or streamed: the steps see the same pixels
    "data.num_workers",
    "data.prefetch",
    "data.chunk",
)


def config_fingerprint(config) -> dict[str, Any]:
    """The config's values that decide the results (compared on resume)."""
    return {k: v for k, v in sorted(flatten(config).items()) if k not in RESUME_SAFE_KEYS}


def refuse_changed_config(now: dict, workdir: str, saved: dict) -> None:
    """ConfigError naming the keys whose values differ from the checkpoint's config.

    ``now`` and ``saved`` are fingerprints of the configs as given (before ``resolve``).
    """
    changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    if changed:
        raise ConfigError(
            f"the checkpoint in {workdir} was made with a different config "
            f"({', '.join(f'{k}: {saved.get(k)!r} -> {now.get(k)!r}' for k in changed[:5])}); "
            "resume with the original config, use a new --workdir, or pass "
            "--allow_config_change to continue anyway"
        )


def check_resumable(config, workdir: str) -> None:
    """Refuse a changed config before the (slow) data and model set-up, not after it.

    The config is compared with the newest checkpoint whose JSON side can be read
    (a damaged one is reported when the run restores, not here).
    """
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        return
    ckpt = Checkpoints(directory)
    try:
        for step in reversed(ckpt.steps()):
            try:
                saved = ckpt.restore_meta(step)["config"]
            except Damaged:
                continue
            refuse_changed_config(config_fingerprint(config), workdir, saved)
            return
    finally:
        ckpt.close()


def restore_newest(
    ckpt: Checkpoints, like: Any, check_meta: Callable[[dict], None]
) -> tuple[int, Any, dict] | None:
    """``(step, tree, meta)`` of the newest checkpoint that restores; None when there is none.

    A damaged checkpoint is reported in one line and skipped; once an older one
    restores, the damaged ones are moved aside (``<step>.damaged-<time>``) so the run
    can save those steps again. ``check_meta`` sees each checkpoint's JSON side before
    its arrays are read (a changed config is refused there, not reported as damage).
    When every checkpoint is damaged nothing is moved and the run stops.
    """
    damaged: list[Damaged] = []
    for step in reversed(ckpt.steps()):
        try:
            check_meta(ckpt.restore_meta(step))
            tree, meta = ckpt.restore(step, like)
        except Damaged as e:
            print(
                f"warning: the checkpoint at step {step} is damaged ({e.reason})",
                file=sys.stderr,
                flush=True,
            )
            damaged.append(e)
            continue
        if damaged:
            ckpt.set_aside([d.step for d in damaged], "damaged")
            print(
                f"warning: resuming from the previous checkpoint, at step {step}; the "
                f"damaged one(s) ({', '.join(str(d.step) for d in damaged)}) were moved "
                f"aside to <step>.damaged-<time> in {ckpt.directory}",
                file=sys.stderr,
                flush=True,
            )
        return step, tree, meta
    if damaged:
        raise ConfigError(
            f"every checkpoint in {ckpt.directory} is damaged "
            f"({'; '.join(str(d) for d in damaged)}); restore that folder from a backup, "
            "or move it aside to start the run over"
        )
    return None
