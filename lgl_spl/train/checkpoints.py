"""Checkpoints with orbax: the train state, the sampler state, the round's plan, the meters.

Orbax writes each step into a temporary directory and renames it when complete,
so a checkpoint half-written when the process died is never restored.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class Checkpoints:
    def __init__(self, directory: str, *, max_to_keep: int = 2):
        self.manager = ocp.CheckpointManager(
            os.path.abspath(directory),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep,
                create=True,
                enable_async_checkpointing=False,
                cleanup_tmp_directories=True,
            ),
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, tree: Any, meta: dict) -> None:
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )
        self.manager.wait_until_finished()

    def restore(self, step: int, like: Any) -> tuple[Any, dict]:
        """Restore into the structure (and shardings) of ``like``."""

        def abstract(x):
            if isinstance(x, jax.Array):
                return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
            return np.asarray(x)

        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(jax.tree.map(abstract, like)),
                meta=ocp.args.JsonRestore(),
            ),
        )
        return restored["state"], restored["meta"]

    def close(self) -> None:
        self.manager.close()
