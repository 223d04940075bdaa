#!/usr/bin/env bash
# The online batch selection controls (docs/results/controls/DATASET/online*): online_hard,
# online_easy, rho_loss and rho_loss's two variants, and online_hard and rho_loss scored by a
# proxy (method.scorer=proxy), beside a `random` run again with them,
# under label noise, and (--budget) at small budgets; then their reports.
#
#   bash launch/controls_online.sh noise|budget fashion_mnist|cifar10 NPZ [RUNS_DIR] [BLOCKS] [REPORT] \
#     [METHODS]
#
# noise:  BLOCKS of sym0 sym20 sym40 pair40 (default: all four); the variants
#         rho_loss_clean (a 10 % holdout with its true labels) and rho_loss_holdout (that
#         holdout with the data's labels) in every noisy block. rho_loss is the default: two
#         irreducible-loss models on the halves (the committed reports name it
#         rho_loss (il_data=halves): they were made when the holdout was the default).
# budget: 1/8, 1/4, 1/2 and 1× the standard updates, no noise (the 1× runs are the noise
#         sweep's noise-free runs, shared when RUNS_DIR is the same).
# REPORT names the report's folder under docs/results/controls/DATASET (default: online,
# or online_budget): a block run apart gets its own report (and its own Holm family)
# instead of overwriting one made from runs that are no longer on disk.
# METHODS (default: all six above, and rho_loss's two variants in the noisy blocks) runs
# only those methods, without the variants: "random online_hard online_hard_proxy rho_loss
# rho_loss_proxy" is the proxy's control.
# The seed rule is launch/controls.sh's: seeds 0–2 without noise and at every budget,
# 0–4 in every noisy block. Finished runs are skipped, interrupted ones resume.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: controls_online.sh noise|budget fashion_mnist|cifar10 NPZ [RUNS_DIR] [BLOCKS] [REPORT] [METHODS]"
sweep=${1:?$usage}
dataset=${2:?$usage}
npz=${3:?$usage}
runs=${4:-runs/controls}/$dataset
read -r -a blocks <<<"${5:-sym0 sym20 sym40 pair40}"
report=${6:-}
out=docs/results/controls/$dataset
read -r -a methods <<<"${7:-random online_hard online_easy rho_loss online_hard_proxy rho_loss_proxy}"
variants=$([ -z "${7:-}" ] && echo yes || echo no)
row() { echo "configs/cpu/control.py:$dataset,$1,$2${3:+,$3}"; }
sweep_runs() { # SEEDS... -- CONFIGS...
  local seeds=()
  while [ "$1" != -- ]; do seeds+=("$1"); shift; done
  shift
  [ $# -gt 0 ] || return 0
  python launch/sweep.py --root "$runs" --seeds "${seeds[@]}" --jobs 2 --configs "$@" \
    --set data.npz_path="$npz"
}
clean=() noisy=() dirs=()
for b in "${blocks[@]}"; do
  if [ "$sweep" = budget ]; then
    for m in "${methods[@]}"; do
      for budget in "" 2 4 8; do
        clean+=("$(row "$m" sym0 "$budget")")
        dirs+=("$runs/$dataset-$m-sym0${budget:+-$budget}")
      done
    done
    break
  fi
  for m in "${methods[@]}"; do
    if [ "$b" = sym0 ]; then clean+=("$(row "$m" "$b")"); else noisy+=("$(row "$m" "$b")"); fi
    dirs+=("$runs/$dataset-$m-$b")
  done
  if [ "$b" != sym0 ] && [ "$variants" = yes ]; then
    noisy+=("$(row rho_loss_clean "$b")" "$(row rho_loss_holdout "$b")")
    dirs+=("$runs/$dataset-rho_loss_clean-$b" "$runs/$dataset-rho_loss_holdout-$b")
  fi
done
sweep_runs 0 1 2 -- "${clean[@]}"
sweep_runs 0 1 2 3 4 -- "${noisy[@]}"
name=$([ "$dataset" = cifar10 ] && echo CIFAR-10 || echo Fashion-MNIST)
if [ "$sweep" = budget ]; then
  title="$name: online batch selection at small budgets"
  rule="seeds 0 1 2 at every budget, declared before the runs (the rule of launch/controls.sh)"
  dest=$out/${report:-online_budget}
else
  title="$name: online batch selection under label noise"
  rule="seeds 0 1 2 for the noise-free block, seeds 0 1 2 3 4 for every noisy block, declared \
before the runs (the rule of launch/controls.sh)"
  dest=$out/${report:-online}
fi
python -m lgl_spl.report "${dirs[@]}" --out "$dest" \
  --title "$title" --seed-rule "$rule"
