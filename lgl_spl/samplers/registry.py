"""Methods by name: each one's sampler and its settings (declared beside the sampler)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

from lgl_spl.errors import ConfigError
from lgl_spl.samplers import advise, lgl, online, self_paced, uniform
from lgl_spl.samplers.context import SamplerContext
from lgl_spl.samplers.schema import Field, check_block


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    build: Callable  # (method_cfg, SamplerContext) -> sampler
    fields: Mapping[str, Field]
    # Auxiliary learners the loop trains beside the student, by name (lgl_spl.train.auxiliary).
    auxiliary: tuple[str, ...] = ()
    # (method_cfg, SamplerContext) -> StepSelector: the plan hands each step candidates and
    # the step keeps some of them (docs/design.md §2); None: the step trains on its whole row.
    step_selector: Callable | None = None
    # (method_cfg, train_cfg, *, baseline, num_classes) -> None: settings derived from the run
    # length once the data are loaded (train.run_length.resolve); None: nothing to derive.
    derive: Callable | None = None

    def defaults(self) -> dict:
        return {key: field.default for key, field in self.fields.items()}


def _self_paced(rule: str):
    return functools.partial(self_paced.SelfPacedSampler, rule=rule)


METHODS = {
    m.name: m
    for m in (
        Method("random", uniform.RandomSampler, uniform.FIELDS),
        Method("spl", _self_paced("spl"), self_paced.SPL_FIELDS),
        Method("spl_inv", _self_paced("spl_inv"), self_paced.SPL_FIELDS),
        Method("spld", _self_paced("spld"), self_paced.SPLD_FIELDS),
        Method(
            "advise",
            advise.make_advise_sampler,
            advise.FIELDS,
            auxiliary=("embedding",),
            derive=advise.derive,
        ),
        Method("lgl", lgl.LGLSampler, lgl.FIELDS, derive=lgl.derive),
        Method(
            "online_hard",
            online.OnlineSampler,
            online.FIELDS,
            step_selector=online.hard_selector,
            derive=online.derive,
        ),
        Method(
            "online_easy",
            online.OnlineSampler,
            online.FIELDS,
            step_selector=online.easy_selector,
            derive=online.derive,
        ),
        Method(
            "rho_loss",
            online.OnlineSampler,
            online.RHO_FIELDS,
            auxiliary=("irreducible",),
            step_selector=online.rho_selector,
            derive=online.derive,
        ),
    )
}
SAMPLERS = METHODS  # the known method names


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}")
    return METHODS[name]


def validate_method(method_cfg) -> None:
    """The ``method`` block names a known method and every setting fits its schema."""
    check_block("method", method_cfg, get_method(method_cfg.name).fields)


def make_sampler(method_cfg, ctx: SamplerContext):
    """The sampler a config's ``method`` block asks for (validated first)."""
    validate_method(method_cfg)
    return get_method(method_cfg.name).build(method_cfg, ctx)
