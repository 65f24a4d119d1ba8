#!/bin/sh
# dyn_batch.sh — issue 11's speed targets: samples/fashion_mlp.nn (and
# fashion_robust.nn) built as it is, with a run-time batch (dim B <= 128), and with a static one
# (const B = 128, the line changed by sed),
# timed in one process by bench/dyn_bench.c: the training step at n = 128
# (dynamic/static, target within 5%), and the forward pass at n = 1 (target
# <= 20 us). 1 and 2 threads.
# Then samples/tiny_gpt.nn (dim B <= 16) against its static twin (const
# B = 16): PAIRS interleaved pairs of bench/step_bench.c runs of the
# training step (each the median of its repeats, at n = 16), per thread
# count the median of the pairs' run-time/static ratios (target <= 1.05).
#
#   bench/dyn_batch.sh [REPEATS [PAIRS]]   (defaults 200, 5; NNC=path to nnc;
#                                          ONLY=fashion or ONLY=gpt for one part;
#                                          NNC_BENCH_CLOCK=cpu times tiny_gpt in CPU
#                                          time, for a loaded machine at 1 thread)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NNC=${NNC:-$ROOT/build/compiler/nnc}
REPS=${1:-200}
PAIRS=${2:-5}
ONLY=${ONLY:-}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnc-dyn.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
if [ "$ONLY" != gpt ]; then
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
fi
[ "$ONLY" = fashion ] && exit 0

# tiny_gpt: both libraries keep the model's name (step_bench finds its API
# by it); a pair is one static run then one run-time run
cc -O2 -I"$ROOT/runtime" -o "$WORK/step_bench" "$ROOT/bench/step_bench.c" -ldl
sed 's/^dim B <= 16.*/const B = 16/' "$ROOT/samples/tiny_gpt.nn" > "$WORK/gpt_static.nn"
grep -q '^const B = 16' "$WORK/gpt_static.nn" || { echo "dyn_batch.sh: tiny_gpt's batch line changed" >&2; exit 1; }
"$NNC" "$WORK/gpt_static.nn" --emit=lib -o "$WORK/libgpt_static.so"
"$NNC" "$ROOT/samples/tiny_gpt.nn" --emit=lib -o "$WORK/libgpt_dyn.so"
step_ms() { STEP_BENCH_ONLY=train_step "$WORK/step_bench" "$1" tiny_gpt "$2" 30 | awk '{ for (i = 1; i < NF; i++) if ($i == "train_step") print $(i + 1) }'; }
echo "tiny_gpt: static batch vs run-time batch, training step at n = 16 ($(uname -m), NNC_ISA=${NNC_ISA:-best}, $PAIRS pairs)"
for t in 1 2; do
  : > "$WORK/ratios"
  line=""
  p=0
  while [ "$p" -lt "$PAIRS" ]; do
    s=$(step_ms "$WORK/libgpt_static.so" "$t")
    d=$(step_ms "$WORK/libgpt_dyn.so" "$t")
    awk -v s="$s" -v d="$d" 'BEGIN { printf "%.4f\n", d / s }' >> "$WORK/ratios"
    line="$line $s/$d"
    p=$((p + 1))
  done
  med=$(sort -n "$WORK/ratios" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  echo "  threads=$t  static/run-time ms per pair:$line  run-time/static median $med"
done
