"""``spl``, ``spl_inv`` and ``spld``: self-paced selection with the pace rule (docs/design.md §4).

Every round after the warm-up, the student's per-example losses (one scoring
pass, eval mode) give λ_e and γ_e; the selected subset is then cycled through
for a full round of updates, so every method spends the same updates.
``spld`` ranks losses inside fixed groups: k-means clusters (per class) of the
*initial* student's features, as SPL-ADVisE's baseline does, or of raw pixels.
SPL-ADVisE (``advise``) is SPLD whose groups arrive as signals from the
embedding learner every round.
"""

from __future__ import annotations

import numpy as np

from lgl_spl import core, settings
from lgl_spl.errors import ConfigError, SignalError
from lgl_spl.samplers.base import (
    RoundPlan,
    Signals,
    check_signals,
    fill_round,
    round_rng,
    stream_key,
)
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.method import Method

# The pace rule (docs/design.md §4): q_e = min(1, q0·(1+β1)^e), λ_e its loss quantile,
# γ_e = g0·(1+β2)^e · λ_e.
PACE_FIELDS = {
    "warmup_rounds": settings.integer(1, "rounds on all data before the first selection", low=0),
    "rescore_every": settings.integer(1, "rounds between scoring passes (1: every round)", low=1),
    "q0": settings.number(
        0.5, "fraction selected in the first selecting round", low=0.0, high=1.0, low_open=True
    ),
    "beta1": settings.number(0.1, "growth of the selected fraction per round", low=0.0),
    "beta2": settings.number(0.1, "growth of SPLD's diversity weight per round", low=0.0),
    "g0": settings.number(0.5, "SPLD's initial diversity weight, γ_0 = g0·λ_0", low=0.0),
    "max_fraction": settings.number(
        1.0,
        "cap on the fraction a selecting round keeps (1: the papers' pace, which reaches "
        "all data); e.g. 1 − the label-noise rate",
        low=0.0,
        high=1.0,
        low_open=True,
    ),
}
CLUSTER_FIELDS = {
    "num_clusters": settings.integer(8, "K: k-means clusters per class (SPLD's groups)", low=1),
}
SPL_FIELDS = dict(PACE_FIELDS)
SPLD_FIELDS = {
    **PACE_FIELDS,
    **CLUSTER_FIELDS,
    "groups": settings.choice(
        "features",
        "what SPLD's groups cluster: the initial student's features or the raw pixels",
        ("features", "pixels"),
    ),
}


def selection_info(ctx: SamplerContext, keep: np.ndarray, groups: np.ndarray | None) -> dict:
    """The per-round facts every curriculum logs: fraction, per-class counts, clusters hit."""
    info = {
        "selected_fraction": float(np.mean(keep)),
        "selected_per_class": np.bincount(ctx.labels[keep], minlength=ctx.num_classes).tolist(),
    }
    if groups is not None:
        info["clusters_represented"] = int(np.unique(groups[keep]).size)
    return info


class SelfPacedSampler:
    """SPL (easy first), SPL_INV (hard first) or SPLD (easy and diverse).

    ``group_source`` (SPLD only): ``features`` or ``pixels`` cluster once at the
    start; ``signals`` takes the groups handed in with every round's signals.
    """

    def __init__(self, cfg, ctx: SamplerContext, *, rule: str, group_source: str | None = None):
        self.cfg = cfg
        self.ctx = ctx
        self.rule = rule
        self.warmup = int(cfg.warmup_rounds)
        self.rescore_every = int(cfg.rescore_every)
        self.max_fraction = float(cfg.max_fraction)
        self.pace_kw = dict(
            q0=float(cfg.q0),
            beta1=float(cfg.beta1),
            beta2=float(cfg.beta2),
            g0=float(cfg.g0),
            max_fraction=self.max_fraction,
        )
        self.k = int(cfg.num_clusters) if rule == "spld" else 0
        self.group_source = group_source or (cfg.groups if rule == "spld" else None)
        if rule == "spld":  # K clusters inside every class
            counts = np.bincount(ctx.labels, minlength=ctx.num_classes)
            smallest = int(counts[counts > 0].min()) if counts.any() else 0
            if self.k > smallest:
                raise ConfigError(
                    f"method.num_clusters K={self.k} is larger than the smallest class "
                    f"({smallest} examples)"
                )

    def init(self) -> dict:
        n = self.ctx.num_examples
        return {
            "groups": np.full(n, -1, np.int32),  # -1: not clustered yet
            "selected": np.ones(n, bool),
            "lam": np.float32(np.nan),
            "gamma": np.float32(np.nan),
        }

    def _needs_groups(self, state) -> bool:
        return self.group_source in ("features", "pixels") and int(state["groups"][0]) < 0

    def _scores_this_round(self, round_index: int) -> bool:
        e = round_index - self.warmup
        return e >= 0 and e % self.rescore_every == 0

    def needs_signals(self, state, round_index: int) -> frozenset[str]:
        want = set()
        if self._needs_groups(state) and self.group_source == "features":
            want.add("features")  # SPLD's groups: the initial student's features
        if self._scores_this_round(round_index):
            want.add("losses")
        return frozenset(want)

    def cluster(self, points: np.ndarray, round_index: int) -> np.ndarray:
        ctx = self.ctx
        key = stream_key(ctx.seed, round_index, 3)
        with ctx.timed("clustering"):
            res = core.kmeans_per_class(
                key, points.astype(np.float32), ctx.labels, ctx.num_classes, self.k
            )
            return np.asarray(res.assignments, np.int32)

    def plan_round(self, state, round_index: int, signals: Signals | None):
        ctx = self.ctx
        wanted = set(self.needs_signals(state, round_index))
        if self.group_source == "signals":  # SPL-ADVisE: the embedding's clusters, every round
            wanted.add("groups")
        what = f"{'advise' if self.group_source == 'signals' else self.rule} round {round_index}"
        check_signals(
            signals, wanted, num_examples=ctx.num_examples, num_classes=ctx.num_classes, what=what
        )
        state = dict(state)
        if self.group_source == "signals":
            state["groups"] = self._checked_groups(signals.groups, what)
        elif self._needs_groups(state):
            if self.group_source == "features":
                points = signals.features
            else:
                points = ctx.x_train.reshape(ctx.num_examples, -1).astype(np.float32) / 255.0
            state["groups"] = self.cluster(points, round_index)
        if self._scores_this_round(round_index):
            with ctx.timed("selection"):
                state.update(self._select(signals.losses, round_index - self.warmup, state))
        elif round_index < self.warmup:
            state["selected"] = np.ones(ctx.num_examples, bool)
        keep = np.asarray(state["selected"])
        with ctx.timed("selection"):
            rng = round_rng(ctx.seed, round_index)
            subset = np.flatnonzero(keep)
            indices, weights = fill_round(
                rng, subset, ctx.num_examples, ctx.steps_per_round, ctx.batch_size
            )
        info = selection_info(ctx, keep, state["groups"] if self.rule == "spld" else None)
        info.update(lam=_finite(state["lam"]), gamma=_finite(state["gamma"]))
        plan = RoundPlan(indices, weights, np.ones(ctx.num_classes, bool), 0, info)
        return plan, state

    def _checked_groups(self, groups, what: str) -> np.ndarray:
        """Cluster ids laid out as k-means per class gives them: class · K + j, j < K."""
        groups = np.asarray(groups)
        if (
            not np.issubdtype(groups.dtype, np.integer)
            or not np.array_equal(groups // self.k, self.ctx.labels)
            or (groups < 0).any()
        ):
            raise SignalError(
                f"{what}: signal 'groups' must hold cluster ids class * K + j with 0 ≤ j < "
                f"K={self.k} for each example's class (as kmeans_per_class returns them)"
            )
        return groups.astype(np.int32)

    def _select(self, losses: np.ndarray, e: int, state) -> dict:
        p = core.pace(losses, e, **self.pace_kw)
        num_groups = self.ctx.num_classes * self.k
        if self.rule == "spl":
            keep, lam, scores = core.spl_select(losses, p.lam), p.lam, losses
        elif self.rule == "spl_inv":
            keep, lam, scores = core.spl_inv_select(losses, p.lam_inv), p.lam_inv, -losses
        else:
            groups = state["groups"]
            keep = core.spld_select(losses, groups, p.lam, p.gamma, num_groups=num_groups)
            lam, scores = p.lam, None
        keep = np.asarray(keep)
        cap = int(np.floor(self.max_fraction * len(keep)))
        if self.max_fraction < 1.0 and keep.sum() > cap:
            if scores is None:  # SPLD: the objective's best `cap` examples
                scores = core.spld_margins(losses, state["groups"], p.gamma, num_groups=num_groups)
            keep = np.asarray(core.cap_selection(keep, scores, max(cap, 1)))
        if not keep.any():  # all losses tied at λ: fall back to all data, never an empty round
            keep = np.ones_like(keep)
        gamma = p.gamma if self.rule == "spld" else np.float32(0.0)
        return {"selected": keep, "lam": np.float32(lam), "gamma": np.float32(gamma)}


def _finite(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _rule(rule: str):
    def build(cfg, ctx: SamplerContext) -> SelfPacedSampler:
        return SelfPacedSampler(cfg, ctx, rule=rule)

    build.__qualname__ = build.__name__ = f"build_{rule}"
    return build


METHODS = (
    Method("spl", _rule("spl"), SPL_FIELDS, doc="easiest examples first; the pace grows"),
    Method("spl_inv", _rule("spl_inv"), SPL_FIELDS, doc="hardest examples first"),
    Method(
        "spld",
        _rule("spld"),
        SPLD_FIELDS,
        doc="easy and diverse: a rank threshold per k-means cluster (Jiang et al. 2014)",
        tiny={"num_clusters": 2},
    ),
)
