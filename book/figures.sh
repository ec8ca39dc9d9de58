#!/usr/bin/env bash
# Regenerates every figure of the book with the project's own commands, on the shipped offline
# digits (8,000 train / 2,000 held-out), and prints the numbers the text quotes.
#   bash book/figures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
gs=target/release/gradschool
runs=$(mktemp -d)
fig=book/src/figures

# Chapter 8: the course recipe with its defaults.
$gs mnist --out-dir "$runs/mnist" | tail -1
cp "$runs/mnist/loss.png" "$fig/mnist-loss.png"

# Chapter 5: the learning-rate comparison, 5 epochs each.
# (lr 1.0 may diverge: the trainer then stops with an error naming the step, and the curve ends
# at its last checkpoint; the other runs go on.)
for lr in 1.0 0.1 0.01 0.001; do
  { $gs mnist --epochs 5 --lr $lr --log-interval 10 --out-dir "$runs/lr$lr" 2>&1 || true; } | tail -1 | sed "s/^/lr $lr: /"
done
$gs plot "$runs"/lr1.0/metrics.csv "$runs"/lr0.1/metrics.csv "$runs"/lr0.01/metrics.csv "$runs"/lr0.001/metrics.csv \
  --metric train_loss -o "$fig/lr-comparison.png"

# Chapter 5: batch size at a fixed learning rate.
for b in 16 64 256; do
  $gs mnist --epochs 5 --batch-size $b --lr 0.05 --log-interval 5 --out-dir "$runs/batch$b" | tail -1 | sed "s/^/batch $b: /"
done
$gs plot "$runs"/batch16/metrics.csv "$runs"/batch64/metrics.csv "$runs"/batch256/metrics.csv \
  --metric test_accuracy --x epoch -o "$fig/batch-comparison.png"

# Chapter 6: the solvers on the same problem, each with its usual learning rate.
for spec in "sgd 0.01 0" "sgd-momentum 0.01 0.9" "rmsprop 0.001 0" "adagrad 0.01 0" "adadelta 1.0 0" "adam 0.001 0" "adamw 0.001 0" "rprop 0.001 0"; do
  set -- $spec
  opt=${1%-momentum}
  $gs mnist --epochs 5 --optimizer "$opt" --lr "$2" --momentum "$3" --log-interval 10 --out-dir "$runs/$1" | tail -1 | sed "s/^/$1 (lr $2): /"
done
$gs plot "$runs"/{sgd,sgd-momentum,rmsprop,adagrad,adadelta,adam,adamw,rprop}/metrics.csv --metric test_accuracy --x epoch \
  -o "$fig/solver-comparison.png"
# Chapters 2, 8 and 11: the neuron, the network and LoRA, drawn from their real sizes.
for d in neuron network lora; do $gs diagram $d -o "$fig/diagram-$d.png"; done

# Chapter 4: one neuron's autograd graph, drawn top to bottom.
$gs graph --model neuron -o "$fig/graph-neuron.svg" | tail -1

# Chapter 6: four solvers crossing a curved valley, drawn over the loss surface.
$gs landscape -o "$fig/solver-landscape.png"

# Chapter 12: the data report on Rotten Tomatoes (needs the data and GPT-2's tokenizer; the
# project's tests find them through GRADSCHOOL_SHARED_DATA, or pass RT_DIR and TOKENIZER_DIR).
shared=${GRADSCHOOL_SHARED_DATA:-}
rt=${RT_DIR:-${shared:+$shared/rt-polarity}}; tok=${TOKENIZER_DIR:-${shared:+$shared/gpt2-tokenizer}}
if [ -n "$rt" ] && [ -n "$tok" ] && [ -d "$rt" ] && [ -d "$tok" ]; then
  $gs data-report --rt-polarity "$rt" --tokenizer "$tok" -o "$fig/rt-token-lengths.png"
else
  echo "chapter 12: set GRADSCHOOL_SHARED_DATA (or RT_DIR and TOKENIZER_DIR) to redraw rt-token-lengths.png"
fi
# Chapter 10: the attention maps of chapter 13's base (BASE_DIR: the folder `gradschool pretrain
# --text tinyshakespeare/input.txt --tokenizer … --steps 400 --out-dir …` wrote).
if [ -n "${BASE_DIR:-}" ] && [ -d "$BASE_DIR" ]; then
  $gs attention --model-dir "$BASE_DIR" --text "First Citizen: Before we proceed any further, hear me speak." \
    -o "$fig/attention-base.png"
else
  echo "chapter 10: set BASE_DIR to chapter 13's pretrained base to redraw attention-base.png"
fi
# Chapters 8 and 15: the pages of `gradschool serve`, in headless Chromium (Debian chromium +
# chromium-driver, and fonts-noto-cjk for the Chinese), on the capstone's model (HOTEL_DIR: the
# runs/hotel/final that chapter 15's commands write) and three MNIST runs for the runs page.
if [ -n "${HOTEL_DIR:-}" ] && [ -d "$HOTEL_DIR" ] && command -v chromedriver >/dev/null && [ -n "${shared:-}" ]; then
  $gs mnist --out-dir "$runs/serve/mnist-lr0.01" >/dev/null
  $gs mnist --lr 0.1 --out-dir "$runs/serve/mnist-lr0.1" >/dev/null
  $gs mnist --optimizer adam --lr 0.001 --out-dir "$runs/serve/mnist-adam" >/dev/null
  $gs serve --model-dir "$HOTEL_DIR" --hotels "$shared/hotel/hotel.json" --runs "$runs/serve" --port 6006 &
  server=$!
  sleep 3
  cargo run --release --quiet --example serve_screenshots -- http://127.0.0.1:6006 "$fig" \
    "您好，我要找一家舒适型酒店，希望酒店提供暖气和行李寄存。" "时光漫步怀旧主题酒店是一家"
  kill $server
else
  echo "chapters 8 and 15: set HOTEL_DIR (and GRADSCHOOL_SHARED_DATA; chromedriver installed) to redraw serve-*.png"
fi
rm -rf "$runs"
