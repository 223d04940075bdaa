"""Method hyperparameters' declarations (the machinery is :mod:`lgl_spl.settings`'s).

Each sampler module declares its method's ``FIELDS`` with these helpers;
``configlib.set_method`` builds a config's ``method`` block from them,
``validate_method`` checks one against them, and the sampler reads the values
without defaults of its own.
"""

from lgl_spl.settings import (
    Field,
    check_block,
    choice,
    complete,
    defaults,
    flag,
    integer,
    number,
    text,
)

__all__ = [
    "Field",
    "check_block",
    "choice",
    "complete",
    "defaults",
    "flag",
    "integer",
    "number",
    "text",
]
