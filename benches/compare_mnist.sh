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
mean_col() { awk -F, 'NR > 1 && $6 != "" { s += $6; n++ } END { printf "%.3f", s / n }' "$1"; }
last_acc() { awk -F, 'NR > 1 && $5 != "" { a = $5 } END { printf "%.4f", a }' "$1"; }
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
