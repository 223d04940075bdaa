#!/usr/bin/env bash
# The small CPU reproduction in docs/results/: every method, 3 seeds, equal student updates,
# on Fashion-MNIST, CIFAR-10 (JPEG q75) and LGL's toy data; then the reports.
#
#   bash launch/reproduce_cpu.sh FASHION_MNIST_NPZ CIFAR10_NPZ [RUNS_DIR]
#
# FASHION_MNIST_NPZ / CIFAR10_NPZ: local arrays (x_train, y_train, x_test, y_test,
# label_names). Re-running skips finished runs and resumes interrupted ones.
set -euo pipefail
cd "$(dirname "$0")/.."
fmnist=${1:?usage: reproduce_cpu.sh FASHION_MNIST_NPZ CIFAR10_NPZ [RUNS_DIR]}
cifar=${2:?usage: reproduce_cpu.sh FASHION_MNIST_NPZ CIFAR10_NPZ [RUNS_DIR]}
runs=${3:-runs}
methods=(random spl spl_inv spld advise lgl_r3 lgl_d3 lgl_s3)
# The seed rule, fixed before any run and stated in each report.
seeds=(0 1 2)
rule="seeds ${seeds[*]} for every method, declared before the runs (launch/reproduce_cpu.sh)"

python launch/sweep.py --root "$runs/toy" --seeds "${seeds[@]}" \
  --configs configs/toy_{random,spl,spl_inv,lgl}.py \
  --grid model.name=mlp1,mlp3 --grid data.toy_layout=separable,overlapping
python -m lgl_spl.report "$runs/toy" --out docs/results/toy \
  --title "LGL toy experiment (2-D Gaussians)" --toy-loss-key full_train_loss --seed-rule "$rule"

python launch/sweep.py --root "$runs/fashion_mnist" --seeds "${seeds[@]}" \
  --configs $(printf "configs/cpu/fashion_mnist_%s.py " "${methods[@]}") --set data.npz_path="$fmnist"
python -m lgl_spl.report "$runs/fashion_mnist" --out docs/results/fashion_mnist \
  --title "Fashion-MNIST" --seed-rule "$rule"

python launch/sweep.py --root "$runs/cifar10" --seeds "${seeds[@]}" \
  --configs $(printf "configs/cpu/cifar10_%s.py " "${methods[@]}") --set data.npz_path="$cifar"
python -m lgl_spl.report "$runs/cifar10" --out docs/results/cifar10 --title "CIFAR-10 (JPEG q75)" \
  --seed-rule "$rule"
