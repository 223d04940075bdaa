#!/usr/bin/env bash
# Positive controls (docs/results/controls/): label noise and small budgets, 3 seeds, on one
# dataset; then the reports. Two runs at a time (a LeNet on a CPU uses about one core).
#
#   bash launch/controls.sh noise|budget fashion_mnist|cifar10 NPZ [RUNS_DIR]
#
# noise:  symmetric 0 / 20 / 40 % and pair 40 %; random, spl, spl_inv, spld, advise, lgl_r3,
#         and spl, spld, advise capped at 1 − noise (method.max_fraction).
# budget: 1/8, 1/4, 1/2 and 1× the standard updates, no noise; every method (the 1× runs are
#         the noise sweep's noise-free runs, shared when RUNS_DIR is the same).
# Re-running skips finished runs and resumes interrupted ones.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: controls.sh noise|budget fashion_mnist|cifar10 NPZ [RUNS_DIR]"
sweep=${1:?$usage}
dataset=${2:?$usage}
npz=${3:?$usage}
runs=${4:-runs/controls}/$dataset
out=docs/results/controls/$dataset
base=(random spl spl_inv spld advise lgl_r3)
configs=()
add() { configs+=("configs/cpu/control.py:$dataset,$1${2:+,$2}${3:+,$3}"); }

if [ "$sweep" = noise ]; then
  for m in "${base[@]}"; do add "$m" sym0; done
  for noise in sym20 sym40 pair40; do
    cap=$([ "$noise" = sym20 ] && echo 80 || echo 60)
    for m in "${base[@]}" "spl_cap$cap" "spld_cap$cap" "advise_cap$cap"; do add "$m" "$noise"; done
  done
  patterns=("*-sym0" "*-sym20" "*-sym40" "*-pair40")
else
  for m in "${base[@]}" lgl_d3 lgl_s3; do
    add "$m" sym0
    for budget in 2 4 8; do add "$m" sym0 "$budget"; done
  done
  patterns=("*-sym0" "*-sym0-[248]")
fi
python launch/sweep.py --root "$runs" --seeds 0 1 2 --jobs 2 --configs "${configs[@]}" \
  --set data.npz_path="$npz"
dirs=()
for p in "${patterns[@]}"; do dirs+=("$runs"/$p); done  # globbed now that the runs exist
name=$([ "$dataset" = cifar10 ] && echo CIFAR-10 || echo Fashion-MNIST)
what=$([ "$sweep" = noise ] && echo "label noise" || echo "small budgets")
python -m lgl_spl.report "${dirs[@]}" --out "$out/$sweep" --title "$name: $what"
