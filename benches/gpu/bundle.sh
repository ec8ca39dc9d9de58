#!/usr/bin/env bash
# Builds everything the GPU checks need here (no CUDA toolkit required: cudarc loads NVIDIA's
# libraries at run time) into .gpu-bundle/ (git-ignored), with a run.sh that a GPU machine runs
# from the repository root in one go:
#
#   bash benches/gpu/bundle.sh                      # here
#   bash .gpu-bundle/run.sh                         # on the GPU machine, in the repo root
#
# run.sh: the CUDA kernel-compile test, the GPU parity suite (every PyTorch fixture on cuda:0,
# GPU vs CPU at large sizes, a training step), then the course's MNIST recipe on Fashion-MNIST
# or the offline digits with --device cuda beside PyTorch on the same GPU, and a summary.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpu-bundle
rm -rf "$out" && mkdir -p "$out"
test_bin() { # the path of an integration-test binary built with --features cuda
  cargo test --release --features cuda --test "$1" --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4
}
cargo build --release --features cuda --quiet
cp target/release/gradschool "$out/gradschool"
cp "$(test_bin cuda_kernels)" "$out/cuda_kernels"
cp "$(test_bin cuda_parity)" "$out/cuda_parity"
cargo bench --features cuda --bench gpt2_step --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4 | xargs -I{} cp {} "$out/gpt2_step"
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the GPU checks from the repository root; prints a summary at the end.
set -uo pipefail
export GRADSCHOOL_ROOT=$PWD
b=.gpu-bundle
summary=()
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "== kernels compile (NVRTC)"; $b/cuda_kernels --test-threads 1 && summary+=("kernels: ok") || summary+=("kernels: FAILED")
echo "== GPU parity"; $b/cuda_parity | tee /tmp/gpu_parity.log; summary+=("parity: $(tail -n 1 /tmp/gpu_parity.log)")
data_args=()
if [ -d /usr/share/datasets/fashion-mnist ]; then data_args=(--data-dir /usr/share/datasets/fashion-mnist); fi
echo "== MNIST recipe, gradschool --device cuda"
$b/gradschool mnist --device cuda --epochs 3 --out-dir /tmp/gs-cuda "${data_args[@]}" | tail -4
gs=$(awk -F, 'NR > 1 && $6 != "" { s += $6; n++ } END { if (n) printf "%.3f", s / n }' /tmp/gs-cuda/metrics.csv 2>/dev/null)
echo "== MNIST recipe, gradschool cpu (same machine)"
$b/gradschool mnist --epochs 1 --out-dir /tmp/gs-cpu "${data_args[@]}" | tail -2
cpu=$(awk -F, 'NR > 1 && $6 != "" { s += $6; n++ } END { if (n) printf "%.3f", s / n }' /tmp/gs-cpu/metrics.csv 2>/dev/null)
pt=""
if [ -n "${data_args[*]}" ] && python3 -c "import torch, torchvision" 2>/dev/null; then
  echo "== MNIST recipe, PyTorch eager on cuda"
  python3 benches/mnist_torch.py --data-dir /usr/share/datasets/fashion-mnist --fashion --device cuda --epochs 3 --metrics /tmp/pt-cuda.csv | tail -2
  pt=$(awk -F, 'NR > 1 && $6 != "" { s += $6; n++ } END { if (n) printf "%.3f", s / n }' /tmp/pt-cuda.csv)
fi
summary+=("mnist s/epoch: gradschool cuda ${gs:-?}, gradschool cpu ${cpu:-?}, pytorch cuda ${pt:-n/a}")
echo "== GPT-2-sized training step, batch 8"
for tokens in 32 1024; do
  for tf32 in "" "--tf32"; do
    line=$($b/gpt2_step --device cuda --tokens $tokens $tf32 2>&1 | tail -n 1); echo "$line"; summary+=("$line")
    if python3 -c "import torch" 2>/dev/null; then
      line=$(python3 benches/gpt2_step_torch.py --device cuda --tokens $tokens $tf32 2>&1 | tail -n 1); echo "$line"; summary+=("$line")
    fi
  done
done
echo; echo "== summary"; printf '%s\n' "${summary[@]}"
RUN
chmod +x "$out/run.sh"
strip --strip-debug "$out/gradschool" "$out/cuda_kernels" "$out/cuda_parity" "$out/gpt2_step"
du -sh "$out"
