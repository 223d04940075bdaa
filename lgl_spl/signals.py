"""The signals a sampler asks for, computed from your own model's outputs.

A sampler's round may need per-example ``losses``, ``features`` (SPLD's groups
cluster the initial student's), LGL's ``class_entropies``, or SPL-ADVisE's
``groups`` (from :func:`lgl_spl.build_embedding_learner`). These are the
project loop's own definitions (eval mode, no augmentation; classes outside
the mask never win), so a loop of your own feeds the sampler what ours does::

    predict = jax.jit(lambda x: model.apply(variables, x, train=False))
    signals = compute_signals(predict, x_train, y_train, sampler.needs(state, r),
                              class_mask=plan.class_mask)
    plan, state = sampler.plan(state, r, **signals)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from lgl_spl import core
from lgl_spl.samplers.base import SCORES

# Logits of classes a model may not predict (LGL): finite, so no NaN in softmax.
MASKED_LOGIT = -1e9


def masked_logits(logits: ArrayLike, class_mask: ArrayLike | None = None) -> jax.Array:
    """``logits`` with the classes outside ``class_mask`` (bool [C]) pushed out of the softmax."""
    logits = jnp.asarray(logits, jnp.float32)
    if class_mask is None:
        return logits
    return jnp.where(jnp.asarray(class_mask, bool)[None, :], logits, MASKED_LOGIT)


@jax.jit
def per_example_losses(
    logits: ArrayLike, labels: ArrayLike, class_mask: ArrayLike | None = None
) -> jax.Array:
    """Cross-entropy of every example [N] (the losses SPL, SPLD and ADVisE rank).

    Example:
      >>> float(per_example_losses(jnp.zeros((1, 4)), jnp.array([2]))[0])  # log 4
      1.3862943649291992
    """
    return optax.softmax_cross_entropy_with_integer_labels(
        masked_logits(logits, class_mask), jnp.asarray(labels, jnp.int32)
    )


def class_entropies(
    logits: ArrayLike, labels: ArrayLike, class_mask: ArrayLike | None = None
) -> jax.Array:
    """LGL's H(T | X_i) for every class i [C]: the entropy of the softmax over the
    classes of ``class_mask`` (the trained ones; all when None), averaged over class
    i's examples (NaN for a class without examples)."""
    logits = jnp.asarray(logits, jnp.float32)
    c = logits.shape[-1]
    trained = jnp.ones(c, bool) if class_mask is None else jnp.asarray(class_mask, bool)
    return core.class_conditional_entropies(logits, labels, trained, num_classes=c)


def split_outputs(out) -> tuple[jax.Array, jax.Array]:
    """(logits, features) of a model's output: logits alone serve as their own features."""
    if isinstance(out, tuple | list) and len(out) == 2:
        return out[0], out[1]
    return out, out


def compute_signals(
    predict: Callable,
    x: ArrayLike,
    labels: ArrayLike,
    wanted: Iterable[str],
    *,
    class_mask: ArrayLike | None = None,
    batch_size: int = 1000,
) -> dict[str, np.ndarray]:
    """One pass of ``predict`` over ``x`` computing only what ``wanted`` names.

    ``predict(x_batch)`` is your model in eval mode, returning logits [B, C] or
    ``(logits, features)``; with logits only, the logits are the features. Every
    batch has ``batch_size`` rows (the last is padded), so a jitted ``predict``
    compiles once. Returns host arrays keyed like ``FunctionalSampler.plan``'s
    keywords (``losses``, ``features``, ``logits``, ``class_entropies``);
    ``groups`` are the embedding learner's and are not computed here.
    """
    wanted = set(wanted) - {"groups"}
    unknown = wanted - set(SCORES)
    if unknown:
        raise ValueError(f"compute_signals cannot compute {sorted(unknown)}")
    if not wanted:
        return {}
    y = np.asarray(labels, np.int32)
    n = len(y)
    size = max(1, min(int(batch_size), n))
    parts: dict[str, list] = {"logits": [], "features": []}
    for start in range(0, n, size):
        idx = np.arange(start, start + size) % n  # the last batch wraps: one shape
        logits, features = split_outputs(predict(jnp.asarray(np.asarray(x)[idx])))
        keep = slice(0, min(size, n - start))
        parts["logits"].append(np.asarray(logits, np.float32)[keep])
        if "features" in wanted:
            parts["features"].append(np.asarray(features, np.float32)[keep])
    logits = np.concatenate(parts["logits"])
    out = {}
    if "losses" in wanted:
        out["losses"] = np.asarray(per_example_losses(logits, y, class_mask))
    if "logits" in wanted:
        out["logits"] = np.asarray(masked_logits(logits, class_mask))
    if "features" in wanted:
        out["features"] = np.concatenate(parts["features"])
    if "class_entropies" in wanted:
        out["class_entropies"] = np.asarray(class_entropies(logits, y, class_mask), np.float32)
    return out
