#!/usr/bin/env bash
# The course's MNIST recipe in gradschool and in PyTorch (benches/mnist_torch.py) on the same
# machine, side by side: seconds per epoch (training only), the ratio, peak memory (max RSS) and
# final test accuracy, for each seed.
#
#   benches/compare_mnist.sh /usr/share/datasets/fashion-mnist --fashion 1 2 3
#
# Needs the release build and .venv-ref (see README: Checking against PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1; shift
fashion=""
if [ "${1:-}" = "--fashion" ]; then fashion="--fashion"; shift; fi
seeds=("${@:-42}")
cargo build --release --quiet
out=$(mktemp -d)
# Columns by name (metrics.csv: epoch,step,lr,train_loss,test_loss,test_accuracy,train_seconds).
col() { awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } $c != "" { print $c }' "$1"; }
mean_col() { col "$1" train_seconds | awk '{ s += $1; n++ } END { printf "%.3f", s / n }'; }
last_acc() { col "$1" test_accuracy | tail -n 1 | awk '{ printf "%.4f", $1 }'; }
rss() { awk '/Maximum resident/ { printf "%.0f", $6 / 1024 }' "$1"; }
printf "%-6s %-12s %10s %10s %9s %12s\n" seed framework "s/epoch" "peak MiB" accuracy ratio
for seed in "${seeds[@]}"; do
  /usr/bin/time -v target/release/gradschool mnist --data-dir "$data" --seed "$seed" --out-dir "$out/gs$seed" \
    > /dev/null 2> "$out/gs$seed.time"
  /usr/bin/time -v .venv-ref/bin/python benches/mnist_torch.py --data-dir "$data" $fashion --seed "$seed" \
    --metrics "$out/torch$seed.csv" > /dev/null 2> "$out/torch$seed.time"
  gs=$(mean_col "$out/gs$seed/metrics.csv"); pt=$(mean_col "$out/torch$seed.csv")
  printf "%-6s %-12s %10s %10s %9s %12s\n" "$seed" gradschool "$gs" "$(rss "$out/gs$seed.time")" "$(last_acc "$out/gs$seed/metrics.csv")" \
    "$(awk -v a="$gs" -v b="$pt" 'BEGIN { printf "%.2f×", a / b }')"
  printf "%-6s %-12s %10s %10s %9s\n" "$seed" pytorch "$pt" "$(rss "$out/torch$seed.time")" "$(last_acc "$out/torch$seed.csv")"
done
rm -rf "$out"
