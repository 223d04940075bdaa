"""Pure, jittable math: no I/O, no config objects, no globals."""

from lgl_spl.core.infobatch import infobatch_prune
from lgl_spl.core.kmeans import KMeansResult, kmeans, kmeans_per_class
from lgl_spl.core.knn import knn_accuracy
from lgl_spl.core.lgl import (
    LGL_STRATEGIES,
    choose_classes,
    class_conditional_entropies,
    class_entropy_sums,
    conditional_entropy,
    stage_sizes,
)
from lgl_spl.core.magnet import magnet_loss
from lgl_spl.core.neighbourhood import (
    ClusterIndex,
    build_cluster_index,
    cluster_mean_losses,
    sample_neighbourhood,
)
from lgl_spl.core.pace import Pace, pace, pace_fraction
from lgl_spl.core.pruning import (
    coverage_centric,
    el2n,
    forgetting_init,
    forgetting_scores,
    forgetting_update,
    grad_norms,
    keep_by_score,
)
from lgl_spl.core.selection import (
    cap_selection,
    spl_inv_select,
    spl_select,
    spld_margins,
    spld_select,
    spld_threshold,
)
from lgl_spl.core.step_selection import (
    Candidates,
    highest_loss,
    highest_scores,
    keep_first,
    lowest_loss,
    lowest_scores,
    reducible_loss,
    score_candidates,
    select_candidates,
)
from lgl_spl.core.superloss import lambertw, superloss, superloss_confidence

__all__ = [
    "Candidates",
    "ClusterIndex",
    "KMeansResult",
    "LGL_STRATEGIES",
    "Pace",
    "build_cluster_index",
    "cap_selection",
    "choose_classes",
    "class_conditional_entropies",
    "class_entropy_sums",
    "cluster_mean_losses",
    "conditional_entropy",
    "coverage_centric",
    "el2n",
    "forgetting_init",
    "forgetting_scores",
    "forgetting_update",
    "grad_norms",
    "highest_loss",
    "highest_scores",
    "infobatch_prune",
    "keep_by_score",
    "keep_first",
    "kmeans",
    "kmeans_per_class",
    "knn_accuracy",
    "lambertw",
    "lowest_loss",
    "lowest_scores",
    "magnet_loss",
    "pace",
    "pace_fraction",
    "reducible_loss",
    "sample_neighbourhood",
    "score_candidates",
    "select_candidates",
    "spl_inv_select",
    "spl_select",
    "spld_margins",
    "spld_select",
    "spld_threshold",
    "stage_sizes",
    "superloss",
    "superloss_confidence",
]
