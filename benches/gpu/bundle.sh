#!/usr/bin/env bash
# Builds everything the GPU checks need here (no CUDA toolkit required: cudarc loads NVIDIA's
# libraries at run time) into .gpu-bundle/ (git-ignored), with a run.sh that a GPU machine runs
# from the repository root in one go:
#
#   bash benches/gpu/bundle.sh                      # here
#   bash .gpu-bundle/run.sh                         # on the GPU machine, in the repo root
#
# run.sh: the CUDA kernel-compile test, the GPU parity suite (every PyTorch fixture on cuda:0,
# GPU vs CPU at large sizes, a training step, NCCL's gradient sum in a world of one), then the course's MNIST recipe on Fashion-MNIST
# or the offline digits with --device cuda beside PyTorch on the same GPU, and a summary.
# Switches (environment): MNIST_EPOCHS (3), GPT2_TOKENS ("32 1024"), TORCH_DATALOADER=0 skips
# PyTorch's course-style DataLoader run, TORCH_LAZY=0 its once-per-epoch-loss run, PROFILE=0 the
# profiled runs and the memory-pool comparison (a short final measurement).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpu-bundle
rm -rf "$out" && mkdir -p "$out"
test_bin() { # the path of an integration-test binary built with --features nccl
  cargo test --release --features nccl --test "$1" --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4
}
cargo build --release --features nccl --quiet
cp target/release/gradschool "$out/gradschool"
cp "$(test_bin cuda_kernels)" "$out/cuda_kernels"
cp "$(test_bin cuda_parity)" "$out/cuda_parity"
cargo bench --features nccl --bench gpt2_step --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4 | xargs -I{} cp {} "$out/gpt2_step"
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the GPU checks from the repository root; prints a summary at the end. Logs go to $OUT
# (the device tool's folder) when it is set, else to /tmp.
set -uo pipefail
export GRADSCHOOL_ROOT=$PWD
b=.gpu-bundle
logs=${OUT:-/tmp}
summary=()
# cudarc loads libcuda, libnvrtc and libcublas by name: add the CUDA toolkit's and the NVIDIA
# Python wheels' library folders to the search path.
site=$(python3 -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null || true)
libdirs=$( (ls -d /usr/local/cuda/lib64 2>/dev/null; [ -n "$site" ] && find "$site/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null) | sort -u | paste -sd:)
export LD_LIBRARY_PATH=${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# NCCL: the wheel (nvidia-nccl-cu12, PyTorch's) names it libnccl.so.2, cudarc loads libnccl.so
nccl=$( [ -n "$site" ] && find "$site/nvidia" -name 'libnccl.so.2' 2>/dev/null | head -n 1)
if [ -n "$nccl" ]; then mkdir -p /tmp/gs-nccl && ln -sf "$nccl" /tmp/gs-nccl/libnccl.so && export LD_LIBRARY_PATH=/tmp/gs-nccl:$LD_LIBRARY_PATH; fi
echo "NCCL: ${nccl:-not found}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "== kernels compile (NVRTC)"
timeout 120 $b/cuda_kernels --test-threads 1 2>&1 | tee "$logs/kernels.log" | tail -3
[ "${PIPESTATUS[0]}" = 0 ] && summary+=("kernels: ok") || summary+=("kernels: FAILED")
echo "== GPU parity"
timeout 240 $b/cuda_parity 2>&1 | tee "$logs/parity.log" | grep -v ' ok$'
summary+=("parity: $(grep cuda_parity: "$logs/parity.log" || echo 'did not finish')")
data_args=()
for d in data/fashion-mnist /usr/share/datasets/fashion-mnist; do
  if [ -f "$d/train-images-idx3-ubyte.gz" ]; then data_args=(--data-dir "$d"); break; fi
done
epochs=${MNIST_EPOCHS:-3}
# mean of the train_seconds column (the shared metrics.csv format), found by its header
mean_epoch() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "train_seconds") c = i; next } c && $c != "" { s += $c; n++ } END { if (n) printf "%.3f", s / n }' "$1" 2>/dev/null; }
echo "== MNIST recipe, gradschool --device cuda"
timeout 180 $b/gradschool mnist --device cuda --epochs "$epochs" --out-dir /tmp/gs-cuda "${data_args[@]}" 2>&1 | tail -4
gs=$(mean_epoch /tmp/gs-cuda/metrics.csv)
pt=""; ptp=""; ptl=""
if [ ${#data_args[@]} -gt 0 ] && python3 -c "import torch, torchvision" 2>/dev/null; then
  if [ "${TORCH_DATALOADER:-1}" = 1 ]; then
    echo "== MNIST recipe, PyTorch eager on cuda (torchvision DataLoader, as in the course)"
    timeout 180 python3 benches/mnist_torch.py "${data_args[@]}" --fashion --device cuda --epochs "$epochs" --metrics /tmp/pt-cuda.csv 2>&1 | tail -2
    pt=$(mean_epoch /tmp/pt-cuda.csv)
  fi
  echo "== MNIST recipe, PyTorch eager on cuda (training set preloaded on the GPU)"
  timeout 180 python3 benches/mnist_torch.py "${data_args[@]}" --fashion --device cuda --preload --epochs "$epochs" --metrics /tmp/pt-cuda-pre.csv 2>&1 | tail -2
  ptp=$(mean_epoch /tmp/pt-cuda-pre.csv)
  if [ "${TORCH_LAZY:-1}" = 1 ]; then
    echo "== MNIST recipe, PyTorch eager on cuda (preloaded, losses read once per epoch like gradschool)"
    timeout 180 python3 benches/mnist_torch.py "${data_args[@]}" --fashion --device cuda --preload --lazy-loss --epochs "$epochs" --metrics /tmp/pt-cuda-lazy.csv 2>&1 | tail -2
    ptl=$(mean_epoch /tmp/pt-cuda-lazy.csv)
  fi
fi
cp /tmp/gs-cuda/metrics.csv "$logs/mnist_gradschool_cuda.csv" 2>/dev/null; cp /tmp/pt-cuda.csv "$logs/mnist_torch_cuda.csv" 2>/dev/null
summary+=("mnist s/epoch (mean of $epochs): gradschool cuda ${gs:-?}, pytorch cuda ${pt:-n/a} (DataLoader), ${ptp:-n/a} (preloaded), ${ptl:-n/a} (preloaded, lazy loss)")
if [ "${PROFILE:-1}" = 1 ]; then
  echo "== MNIST, one profiled epoch (kernel time table; synchronizes after every launch)"
  GRADSCHOOL_CUDA_PROFILE=1 timeout 120 $b/gradschool mnist --device cuda --epochs 1 --out-dir /tmp/gs-prof "${data_args[@]}" 2>"$logs/mnist_profile.txt" | tail -1
  head -12 "$logs/mnist_profile.txt"
fi
echo "== GPT-2-sized training step, batch 8"
for tokens in ${GPT2_TOKENS:-32 1024}; do
  for tf32 in "" "--tf32"; do
    line=$(timeout 120 $b/gpt2_step --device cuda --tokens $tokens $tf32 2>&1 | tail -n 1); echo "$line"; summary+=("$line")
    if python3 -c "import torch" 2>/dev/null; then
      line=$(timeout 120 python3 benches/gpt2_step_torch.py --device cuda --tokens $tokens $tf32 2>&1 | tail -n 1); echo "$line"; summary+=("$line")
    fi
  done
done
if [ "${PROFILE:-1}" = 1 ]; then
  echo "== the memory pool's effect: 8 x 1024, TF32, freed memory released to the driver at every sync"
  line=$(timeout 120 $b/gpt2_step --device cuda --tokens 1024 --tf32 --pool-release 2>&1 | tail -n 1); echo "$line"; summary+=("pool released: $line")
  echo "== GPT-2 step 8 x 1024 TF32, profiled"
  GRADSCHOOL_CUDA_PROFILE=1 timeout 120 $b/gpt2_step --device cuda --tokens 1024 --tf32 --steps 1 >/dev/null 2>"$logs/gpt2_profile.txt"
  head -30 "$logs/gpt2_profile.txt"
fi
echo; echo "== summary"; printf '%s\n' "${summary[@]}" | tee "$logs/summary.txt"
RUN
chmod +x "$out/run.sh"
strip --strip-debug "$out/gradschool" "$out/cuda_kernels" "$out/cuda_parity" "$out/gpt2_step"
du -sh "$out"
