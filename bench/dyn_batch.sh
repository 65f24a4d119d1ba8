#!/bin/sh
# dyn_batch.sh — issue 11's speed targets: samples/fashion_mlp.nn (and
# fashion_robust.nn) built as it is, with a run-time batch (dim B <= 128), and with a static one
# (const B = 128, the line changed by sed),
# timed in one process by bench/dyn_bench.c: the training step at n = 128
# (dynamic/static, target within 5%), and the forward pass at n = 1 (target
# <= 20 us). 1 and 2 threads.
#
#   bench/dyn_batch.sh [REPEATS]       (default 200; NNC=path to nnc)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NNC=${NNC:-$ROOT/build/compiler/nnc}
REPS=${1:-200}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnc-dyn.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
cc -O2 -o "$WORK/dyn_bench" "$ROOT/bench/dyn_bench.c" -ldl
# fashion_robust has the MLP's inputs and outputs (x [B,784], y [B],
# forward [B,10]): dyn_bench times it the same way
for sample in fashion_mlp fashion_robust; do
  sed 's/^dim B <= 128.*/const B = 128/' "$ROOT/samples/$sample.nn" > "$WORK/static.nn"
  grep -q '^const B = 128' "$WORK/static.nn" || { echo "dyn_batch.sh: $sample's batch line changed" >&2; exit 1; }
  "$NNC" "$WORK/static.nn" --emit=lib --name=fms -o "$WORK/libfms.so"
  "$NNC" "$ROOT/samples/$sample.nn" --emit=lib --name=fmd -o "$WORK/libfmd.so"
  echo "$sample: static batch vs run-time batch ($(uname -m), NNC_ISA=${NNC_ISA:-best})"
  for t in 1 2; do "$WORK/dyn_bench" "$WORK/libfms.so" "$WORK/libfmd.so" "$t" "$REPS"; done
done
