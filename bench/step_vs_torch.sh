#!/usr/bin/env bash
# step_vs_torch.sh — speed of one training step (forward + backward + SGD
# momentum update) of samples/fashion_mlp.nn (batch 128) and
# samples/fashion_cnn.nn (batch 64), nnc against PyTorch measured in the same
# run, each with 1 and with 2 threads, the faster taken. Also prints the
# gradient/forward cost ratio, GFLOP/s, and how long .nn -> .so takes for the
# CNN at -O2. Not a test: numbers depend on the machine and its load.
#
#   bash bench/step_vs_torch.sh [path/to/nnc]
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
nnc="${1:-$top/build/compiler/nnc}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cc -O2 -I"$top/runtime" "$top/bench/step_bench.c" -o "$work/step_bench" -ldl

# The peer: Debian's python3-torch, with the environment that makes it fast
# here (OpenBLAS's forced core type and L2 size slow it down; glibc keeping
# freed memory avoids page faults dominating its CNN step).
source "$top/bench/peer_blas.sh"
torch_ok=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then torch_ok=1; peer_blas; fi
torch() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE MALLOC_MMAP_THRESHOLD_=4294967296 \
    MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=67108864 \
    /usr/bin/python3 "$top/bench/torch_step.py" "$1" "$2"
}

calc() { awk "BEGIN { print ($*) }"; }
start=$(date +%s.%N)
"$nnc" "$top/samples/fashion_cnn.nn" --emit=lib -O2 -o "$work/libfashion_cnn.so"
end=$(date +%s.%N)
echo "compile: fashion_cnn.nn -> .so at -O2 in $(calc "$end - $start") s"
"$nnc" "$top/samples/fashion_mlp.nn" --emit=lib -O2 -o "$work/libfashion_mlp.so"

printf '\n%-12s %8s %8s %8s %9s %8s %10s %9s\n' model threads "nnc ms" "torch ms" "nnc/torch" "GFLOP/s" "grad/fwd" ""
for model in mlp cnn; do
  name="fashion_$model"
  mflop=$("$nnc" --stats "$top/samples/$name.nn" 2>/dev/null | awk '$1 == "train_step" { print $4; exit }')
  best_nnc=1e9
  best_torch=1e9
  for t in 1 2; do
    line=$("$work/step_bench" "$work/lib$name.so" "$name" "$t" 200)
    ms=$(echo "$line" | awk '{ for (i = 1; i <= NF; i++) if ($i == "train_step") print $(i + 1) }')
    ratio=$(echo "$line" | awk '{ print $NF }')
    tms="-"
    if [ "$torch_ok" = 1 ]; then
      tms=$(torch "$model" "$t")
      best_torch=$(calc "($tms < $best_torch) ? $tms : $best_torch")
    fi
    best_nnc=$(calc "($ms < $best_nnc) ? $ms : $best_nnc")
    gflops=$(calc "$mflop / $ms")
    printf '%-12s %8s %8.3f %8s %9s %8.1f %10s\n' "$name" "$t" "$ms" "$tms" "" "$gflops" "$ratio"
  done
  if [ "$torch_ok" = 1 ]; then
    printf '%-12s %8s %8.3f %8.3f %9.2f   best of 1 and 2 threads each\n' "$name" best "$best_nnc" "$best_torch" \
      "$(calc "$best_nnc / $best_torch")"
  else
    echo "$name: PyTorch (python3-torch) is not installed: no peer measured"
  fi
done
