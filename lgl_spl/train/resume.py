"""Resuming: a checkpoint is only continued with the config that made it."""

from __future__ import annotations

import os
from typing import Any

from lgl_spl.configlib import flatten
from lgl_spl.errors import ConfigError
from lgl_spl.train.checkpoints import Checkpoints

# Config keys that may change between an interrupted run and its resumption
# without changing its results.
RESUME_SAFE_KEYS = (
    "train.log_every",
    "train.checkpoint_every",
    "train.compilation_cache",
    "data.data_dir",
    "data.npz_path",
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
    """Refuse a changed config before the (slow) data and model set-up, not after it."""
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        return
    ckpt = Checkpoints(directory)
    try:
        step = ckpt.latest_step()
        if step:
            saved = ckpt.restore_meta(step)["config"]
            refuse_changed_config(config_fingerprint(config), workdir, saved)
    finally:
        ckpt.close()
