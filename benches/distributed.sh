#!/usr/bin/env bash
# Data parallelism on this machine, measured: the all-reduce against the ring formula, and the
# course's MNIST recipe (batch 64 a step) in one process and on 2 ranks (32 each), with and
# without ZeRO-1. Needs Open MPI; prints the tables benches/README.md keeps.
#
#   bash benches/distributed.sh            # 3 epochs of the shipped 8,000 digits per run
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --features distributed --bin gradschool --example allreduce
G=target/release/gradschool
root=$([ "$(id -u)" -eq 0 ] && echo --allow-run-as-root || true)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "## all-reduce (sum of f32), 2 ranks"
mpirun $root -np 2 target/release/examples/allreduce

# seconds per optimizer step: the trainer's train_seconds (evaluation excluded) over the steps
per_step() {
  python3 - "$1/metrics.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
secs = sum(float(r["train_seconds"]) for r in rows if r["train_seconds"])
print(f"{1000 * secs / int(rows[-1]['step']):.2f}")
PY
}
echo
echo "## MNIST, 784-256-128-64-10, 64 examples a step, 3 epochs (375 steps), AdamW"
printf "%-44s %12s\n" "run" "ms / step"
common=(mnist --epochs 3 --optimizer adamw --lr 0.001 --log-interval 25)
RAYON_NUM_THREADS=2 $G "${common[@]}" --batch-size 64 --out-dir "$out/p2" >/dev/null
printf "%-44s %12s\n" "1 process, 2 threads, batch 64" "$(per_step "$out/p2")"
RAYON_NUM_THREADS=1 $G "${common[@]}" --batch-size 64 --out-dir "$out/p1" >/dev/null
printf "%-44s %12s\n" "1 process, 1 thread, batch 64" "$(per_step "$out/p1")"
$G launch -n 2 "${common[@]}" --batch-size 32 --out-dir "$out/r2" >/dev/null
printf "%-44s %12s\n" "2 ranks × 1 thread, batch 32 each" "$(per_step "$out/r2")"
$G launch -n 2 "${common[@]}" --batch-size 32 --zero 1 --out-dir "$out/z2" | grep ZeRO || true
printf "%-44s %12s\n" "2 ranks × 1 thread, batch 32 each, --zero 1" "$(per_step "$out/z2")"
cmp -s "$out/r2/model.safetensors" "$out/z2/model.safetensors" && echo "(--zero 1 wrote the same model.safetensors)"

# GPT-2 124M shape (12 × 768, 50,257 tokens), 8 sequences × 32 tokens a step, every position a label
data=${GRADSCHOOL_SHARED_DATA:-../shared/data}
if [ -f "$data/tinyshakespeare/input.txt" ] && [ -d "$data/gpt2-tokenizer" ]; then
  echo
  echo "## GPT-2 124M shape, pretrain, 8 × 32 tokens a step, AdamW, 4 steps"
  printf "%-44s %12s\n" "run" "ms / step"
  head -c 300000 "$data/tinyshakespeare/input.txt" > "$out/t.txt"
  gpt=(pretrain --text "$out/t.txt" --tokenizer "$data/gpt2-tokenizer" --n-layer 12 --n-embd 768 --n-head 12
       --block-size 32 --steps 4 --eval-every 4)
  RAYON_NUM_THREADS=2 $G "${gpt[@]}" --batch-size 8 --out-dir "$out/g2" >/dev/null
  printf "%-44s %12s\n" "1 process, 2 threads, batch 8" "$(per_step "$out/g2")"
  $G launch -n 2 "${gpt[@]}" --batch-size 4 --out-dir "$out/gr" >/dev/null
  printf "%-44s %12s\n" "2 ranks × 1 thread, batch 4 each" "$(per_step "$out/gr")"
fi
