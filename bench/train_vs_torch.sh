#!/usr/bin/env bash
# train_vs_torch.sh [NNC] [MODEL...] — train samples/fashion_mlp.nn and
# samples/fashion_cnn.nn with nnc (`nnc MODEL.nn --emit=exe`) and the same
# networks in PyTorch (bench/torch_train.py: same architecture, init,
# optimizer, schedule, batch, epochs and data), one after the other on the
# same threads, and print both runs' test accuracy per epoch and wall time.
#
#   bash bench/train_vs_torch.sh                    # build/compiler/nnc, mlp and cnn
#   bash bench/train_vs_torch.sh /work/build/compiler/nnc mlp
#   EPOCHS=1 THREADS=2 bash bench/train_vs_torch.sh
#
# The PyTorch side is skipped, with a message, when `import torch` fails.
# Wall times exclude reading the data (both print the time of the training
# loop, evaluations included). The machine's load is printed: other jobs make
# both numbers slower and noisier.
set -uo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
nnc="${1:-$top/build/compiler/nnc}"
[ $# -gt 0 ] && shift
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(mlp cnn)
threads="${THREADS:-2}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [ ! -x "$nnc" ]; then
  echo "no nnc at $nnc (build first, or pass its path)" >&2
  exit 2
fi
# the first Python that has torch: $PYTHON, python3 on the PATH, Debian's
source "$top/bench/peer_blas.sh"
have_torch=0
for py in ${PYTHON:-} python3 /usr/bin/python3; do
  if env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" -c 'import torch' 2>/dev/null; then
    have_torch=1
    break
  fi
done
[ $have_torch = 1 ] && peer_blas
[ $have_torch = 1 ] || echo "PyTorch is not installed (no Python here can import torch): only nnc runs"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); threads: $threads"

for m in "${models[@]}"; do
  nn="$top/samples/fashion_$m.nn"
  epochs="${EPOCHS:-$(sed -n -E 's/^ *epochs = ([0-9]+).*/\1/p' "$nn")}"
  lr="$(sed -n -E 's/.*sgd\(lr = ([0-9.]+).*/\1/p' "$nn")"
  momentum="$(sed -n -E 's/.*momentum = ([0-9.]+).*/\1/p' "$nn")"
  sched=constant
  grep -q -E '^ *schedule = cosine' "$nn" && sched=cosine
  echo
  echo "== fashion_$m: sgd(lr $lr, momentum $momentum), schedule $sched, $epochs epochs"
  if ! "$nnc" "$nn" --emit=exe -o "$tmp/train_$m"; then
    echo "nnc failed to compile $nn" >&2
    exit 1
  fi
  (cd "$tmp" && "./train_$m" --epochs "$epochs" --threads "$threads" --progress none \
    --checkpoint "$tmp/$m.ckpt" >"$tmp/nnc_$m.txt")
  echo "-- nnc"
  grep -E '^(epoch|done)' "$tmp/nnc_$m.txt"
  if [ $have_torch = 1 ]; then
    echo "-- PyTorch $(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" -c 'import torch; print(torch.__version__)')"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$top/bench/torch_train.py" "$m" --epochs "$epochs" \
      --lr "$lr" --momentum "$momentum" --schedule "$sched" --threads "$threads" | tee "$tmp/torch_$m.txt"
    n_acc="$(sed -n -E 's/^done:.*accuracy ([0-9.]+)%.*/\1/p' "$tmp/nnc_$m.txt")"
    n_time="$(sed -n -E 's/^epoch [0-9]+\/[0-9]+:.*\(([0-9.]+) s\)$/\1/p' "$tmp/nnc_$m.txt" | tail -1)"
    t_acc="$(sed -n -E 's/^done:.*accuracy ([0-9.]+)%.*/\1/p' "$tmp/torch_$m.txt")"
    t_time="$(sed -n -E 's/^done: [0-9]+ epochs in ([0-9.]+) s.*/\1/p' "$tmp/torch_$m.txt")"
    echo "-- fashion_$m: nnc $n_acc% in $n_time s; PyTorch $t_acc% in $t_time s" \
      "(nnc/PyTorch time: $(awk -v a="$n_time" -v b="$t_time" 'BEGIN { printf "%.2f", a / b }'))"
  fi
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
