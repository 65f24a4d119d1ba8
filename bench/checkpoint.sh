#!/usr/bin/env bash
# checkpoint.sh [NNC] — what checkpointing costs: one training step of
# samples/char_lstm.nn at a long sequence (T=512 unless T=... is set), fully
# taped against a build whose loop tapes are limited to 1/8 of the taped
# build's (--max-tape-bytes; the compiler picks the checkpointing), measured
# in one run, interleaved, at 1 thread. Prints the loop tapes and the
# straight-line values each build keeps (nnc --emit=tape), the workspace
# (--stats), ms per step (median of step_bench's repeats, best of ROUNDS
# rounds) and the ratio checkpointed/taped (issue 10's target: <= 1.4).
# Not a test: times depend on the machine and its load (printed).
#
#   bash bench/checkpoint.sh
#   T=256 THREADS=2 ROUNDS=5 bash bench/checkpoint.sh build/compiler/nnc
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
nnc="${1:-$top/build/compiler/nnc}"
T="${T:-512}"
threads="${THREADS:-1}"
rounds="${ROUNDS:-3}"
if [ ! -x "$nnc" ]; then
  echo "no nnc at $nnc (build first, or pass its path)" >&2
  exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
model="$top/samples/char_lstm.nn"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "char_lstm.nn with -D T=$T, $threads thread(s)"

rtlib="$(dirname "$nnc")/../runtime/libnnrt.a"
if [ -e "$rtlib" ]; then
  cc -O2 -DSTEP_BENCH_RT -I"$top/runtime" "$top/bench/step_bench.c" "$rtlib" -o "$work/step_bench" -ldl -lm -lpthread
else
  cc -O2 -I"$top/runtime" "$top/bench/step_bench.c" -o "$work/step_bench" -ldl
fi

tapes() { "$nnc" --emit=tape -D T="$T" "$@" "$model" | awk '/^  total:/ { print $2, $8 }'; }
read -r plain_sl plain_tape < <(tapes)
limit=$((plain_tape / 8))
read -r ck_sl ck_tape < <(tapes --max-tape-bytes="$limit")
ws() { "$nnc" --stats -D T="$T" "$@" "$model" | awk '$1 == "train_step" && $3 == "bytes" { print $2; exit }'; }
echo
"$nnc" --emit=tape -D T="$T" --max-tape-bytes="$limit" "$model" | grep -E '^  (loop tapes limited|checkpointed)'
printf '\n%-14s %14s %14s %14s\n' build "loop tapes" "straight-line" "workspace"
printf '%-14s %14d %14d %14s\n' taped "$plain_tape" "$plain_sl" "$(ws)"
printf '%-14s %14d %14d %14s\n' checkpointed "$ck_tape" "$ck_sl" "$(ws --max-tape-bytes="$limit")"

"$nnc" "$model" -D T="$T" --emit=lib -O2 -o "$work/libtaped.so"
"$nnc" "$model" -D T="$T" --max-tape-bytes="$limit" --emit=lib -O2 -o "$work/libck.so"
step() { STEP_BENCH_ONLY=train_step "$work/step_bench" "$1" char_lstm "$threads" 10 | awk '{ for (i = 1; i < NF; i++) if ($i == "train_step") print $(i + 1) }'; }
best_t="" best_c=""
for r in $(seq "$rounds"); do
  t=$(step "$work/libtaped.so")
  c=$(step "$work/libck.so")
  echo "round $r: taped $t ms, checkpointed $c ms"
  best_t=$(awk -v a="$best_t" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
  best_c=$(awk -v a="$best_c" -v b="$c" 'BEGIN { print (a == "" || b < a) ? b : a }')
done
ratio=$(awk -v a="$best_c" -v b="$best_t" 'BEGIN { printf "%.2f", a / b }')
echo
echo "train_step: taped $best_t ms, checkpointed $best_c ms: ratio $ratio (target <= 1.4: $(awk -v r="$ratio" 'BEGIN { print (r <= 1.4) ? "met" : "not met" }'))"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
