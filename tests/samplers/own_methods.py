"""Methods a user might write outside the package, through the public API only
(named ``tests.samplers.own_methods:ATTR`` in method.name)."""

import numpy as np

import lgl_spl as L


class EvenFirst:
    """Trains on the even-numbered examples for ``even_rounds`` rounds, then on all of them."""

    def __init__(self, cfg, ctx: L.SamplerContext):
        self.ctx, self.even_rounds = ctx, int(cfg.even_rounds)

    def init(self):
        return {"rounds_planned": np.int32(0)}

    def needs_signals(self, state, round_index):
        return frozenset()

    def plan_round(self, state, round_index, signals):
        ctx = self.ctx
        everything = np.arange(ctx.num_examples)
        subset = everything[::2] if round_index < self.even_rounds else everything
        indices, weights = L.fill_round(
            L.round_rng(ctx.seed, round_index),
            subset,
            ctx.num_examples,
            ctx.steps_per_round,
            ctx.batch_size,
        )
        info = {"selected_fraction": subset.size / ctx.num_examples}
        plan = L.RoundPlan(indices, weights, np.ones(ctx.num_classes, bool), 0, info)
        return plan, {"rounds_planned": np.int32(state["rounds_planned"] + 1)}


EVEN_FIRST = L.Method(
    "even_first",
    EvenFirst,
    {"even_rounds": L.integer(2, "rounds on the even-numbered examples only", low=0)},
    doc="the even-numbered examples first",
)


# Methods that break the protocol, each in one way.


class _Broken(EvenFirst):
    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)

    def plan_round(self, state, round_index, signals):
        plan, state = super().plan_round(state, round_index, signals)
        return self.break_(plan), state


def _broken(name, break_):
    cls = type(f"Broken_{name}", (_Broken,), {"break_": staticmethod(break_)})
    return L.Method(name, cls, EVEN_FIRST.fields)


def _replace(plan, **changes):
    import dataclasses

    return dataclasses.replace(plan, **changes)


WRONG_SHAPE = _broken("wrong_shape", lambda p: _replace(p, indices=p.indices[:, :-1]))
OUT_OF_RANGE = _broken("out_of_range", lambda p: _replace(p, indices=p.indices + 10_000))
NAN_WEIGHTS = _broken("nan_weights", lambda p: _replace(p, weights=p.weights * np.nan))


class _Raises(EvenFirst):
    def plan_round(self, state, round_index, signals):
        if round_index == 1:
            raise ZeroDivisionError("my sampler divided by zero")
        return super().plan_round(state, round_index, signals)


RAISES = L.Method("raises", _Raises, EVEN_FIRST.fields)


class _UnknownSignal(EvenFirst):
    def needs_signals(self, state, round_index):
        return frozenset({"gradients"})


UNKNOWN_SIGNAL = L.Method("unknown_signal", _UnknownSignal, EVEN_FIRST.fields)

NOT_A_METHOD = EvenFirst
