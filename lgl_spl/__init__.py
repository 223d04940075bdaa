"""lgl_spl: data scheduling for image classification in JAX/Flax.

Self-paced learning (SPL, SPL_INV, SPLD), SPL-ADVisE and Local-to-Global
Learning. The pure functions are re-exported here::

    import lgl_spl as L
    loss, per_example = L.magnet_loss(embeddings, cluster_classes, alpha=1.0)
"""

from lgl_spl.core import *  # noqa: F403
from lgl_spl.core import __all__ as _core_all

__all__ = list(_core_all)
__version__ = "0.1.0"
