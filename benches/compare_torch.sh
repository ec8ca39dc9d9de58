#!/usr/bin/env bash
# gradschool against PyTorch eager on this machine, in interleaved rounds (each round runs every
# case in both, so drift in the machine's speed hits both sides alike), and the ratios the speed
# targets are stated in (gradschool time / PyTorch time; below 1 is faster):
#
#   gpt2-all   the GPT-2 124M step, batch 8 × 32, every position labelled (benches/gpt2_step.rs --model
#              vs benches/gpt2_step_torch.py)
#   gpt2-one   the course's sentiment batch: one label per sequence, -100 elsewhere, as the course
#              computes it (GPT2LMHeadModel + Trainer: the head over every position)
#   mnist      the course's MNIST recipe, seconds per epoch (training only), epochs 1-2, against
#              PyTorch with the course's torchvision DataLoader
#   mnist-pre  the same against PyTorch's fastest eager loop (benches/mnist_torch.py --preload
#              --lazy-loss: the set normalised once, batches sliced from it): the compute alone
#
#   benches/compare_torch.sh [ROUNDS] [MNIST_DIR]      # default 3 rounds, Fashion-MNIST from Debian
#
# PYTHON names an interpreter with torch (default .venv-ref/bin/python, see README).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
mnist_dir=${2:-/usr/share/datasets/fashion-mnist}
py=${PYTHON:-.venv-ref/bin/python}
cargo build --release --quiet
cargo bench --bench gpt2_step --no-run --quiet 2> /dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ms() { grep -oE '[0-9.]+ ms/step' | head -n 1 | cut -d' ' -f1; }
col() { awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } $c != "" { print $c }' "$1"; }
mean() { awk '{ s += $1; n++ } END { printf "%.3f", s / n }'; }
printf "%-6s %-9s %14s %14s %7s\n" round case gradschool pytorch ratio
for r in $(seq 1 "$rounds"); do
  for labels in all one; do
    gs=$(cargo bench --quiet --bench gpt2_step -- --model --tokens 32 --labels "$labels" 2> /dev/null | ms)
    pt=$("$py" benches/gpt2_step_torch.py --tokens 32 --labels "$labels" | ms)
    printf "%-6s %-9s %11s ms %11s ms %6.2f×\n" "$r" "gpt2-$labels" "$gs" "$pt" "$(awk -v a="$gs" -v b="$pt" 'BEGIN { print a / b }')"
    echo "gpt2-$labels $gs $pt" >> "$out/all"
  done
  target/release/gradschool mnist --data-dir "$mnist_dir" --epochs 2 --out-dir "$out/gs$r" > /dev/null 2>&1
  "$py" benches/mnist_torch.py --data-dir "$mnist_dir" --fashion --epochs 2 --metrics "$out/pt$r.csv" > /dev/null 2>&1
  "$py" benches/mnist_torch.py --data-dir "$mnist_dir" --fashion --epochs 2 --preload --lazy-loss \
    --metrics "$out/pre$r.csv" > /dev/null 2>&1
  gs=$(col "$out/gs$r/metrics.csv" train_seconds | mean)
  for c in mnist:pt mnist-pre:pre; do
    pt=$(col "$out/${c#*:}$r.csv" train_seconds | mean)
    printf "%-6s %-9s %12s s %12s s %6.2f×\n" "$r" "${c%:*}" "$gs" "$pt" "$(awk -v a="$gs" -v b="$pt" 'BEGIN { print a / b }')"
    echo "${c%:*} $gs $pt" >> "$out/all"
  done
done
echo "median ratio over $rounds rounds:"
for c in gpt2-all gpt2-one mnist mnist-pre; do
  awk -v c="$c" '$1 == c { print $2 / $3 }' "$out/all" | sort -g | awk -v c="$c" '{ v[NR] = $1 } END { printf "  %-9s %.2f× (%.2f–%.2f)\n", c, v[int((NR + 1) / 2)], v[1], v[NR] }'
done
