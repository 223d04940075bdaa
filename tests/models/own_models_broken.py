"""A module of the user's that fails on import (a NameError on its line 5)."""

import flax.linen as nn  # noqa: F401

layers = undefined_helper()  # noqa: F821
