"""Positive controls (docs/results/controls/): label noise and small budgets on a CPU.

    --config configs/cpu/control.py:DATASET,METHOD[,NOISE[,BUDGET]]

DATASET fashion_mnist | cifar10 (local arrays: --config.data.npz_path=PATH.npz);
METHOD random | spl | spl_inv | spld | advise | lgl_r3 | lgl_d3 | lgl_s3 | online_hard |
online_easy | rho_loss (online batch selection: 10 × the batch scored per step, one warm-up
round; rho_loss's irreducible-loss models on the two halves of the training data, each
scoring the other; rho_loss_holdout on a 10 % holdout, noisy like the rest; rho_loss_clean
on that holdout's true labels; rho_loss_halves = rho_loss) | infobatch | superloss |
prune_<score>_<percent>[_epochs][_stratified] (e.g. prune_el2n_70: keep the 70 % of
highest EL2N for random's updates; _epochs: for random's epochs; _stratified:
coverage-centric) | infobatch_r<percent> (method.prune_ratio) | online_hard_proxy,
rho_loss_proxy (candidates scored by a quarter-width proxy), optionally capped:
spl_cap60 (method.max_fraction = 0.6); NOISE sym0 | sym20 | sym40 | pair40;
BUDGET 1, 2, 4 or 8 (a 1/BUDGET share of the standard run: 20 epochs of 1,800
Fashion-MNIST examples, 24 of 2,700 CIFAR-10 examples; lgl_spl.configlib.CONTROL_STUDENTS).
"""

from lgl_spl.configlib import control_row


def get_config(arg: str = "fashion_mnist,random"):
    return control_row(arg)
