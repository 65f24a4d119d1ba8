#!/bin/sh
# ir.sh — the speed of the middle of the compiler on every sample: IR
# construction (irgen), the passes (before and after AD) and the AD itself
# (gradient functions and the training step), as `nnc --stats` times them,
# and the size of each gradient function against the function it
# differentiates.
#
#   bench/ir.sh [NNC] [RUNS]     (defaults: build/compiler/nnc, 20)
#
# Each sample is compiled RUNS times; the table shows the median of each
# time and of their total (per run, so the total is not the sum of the
# column medians), and the gradient/forward instruction ratio. The issue's
# targets: total under 50 ms on tiny_gpt, ratio under 3x. Exits non-zero
# when tiny_gpt misses either.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NNC=${1:-$ROOT/build/compiler/nnc}
RUNS=${2:-20}
[ -x "$NNC" ] || { echo "ir.sh: no nnc at $NNC (build first, or pass its path)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnc-irbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

printf '%-14s %9s %9s %9s %9s   %s\n' sample "irgen ms" "passes ms" "grad ms" "total ms" "gradient / forward instructions"
fail=0
for src in "$ROOT"/samples/*.nn; do
  name=$(basename "$src" .nn)
  : >"$WORK/times"
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    "$NNC" --stats "$src" >"$WORK/stats"
    sed -n 's/^time: irgen \([0-9.]*\) ms, passes \([0-9.]*\) ms, grad \([0-9.]*\) ms;.*$/\1 \2 \3/p' "$WORK/stats" >>"$WORK/times"
    i=$((i + 1))
  done
  [ -s "$WORK/times" ] || { echo "ir.sh: no 'time:' line from nnc --stats $src" >&2; exit 1; }
  irgen=$(awk '{print $1}' "$WORK/times" | median)
  passes=$(awk '{print $2}' "$WORK/times" | median)
  grad=$(awk '{print $3}' "$WORK/times" | median)
  total=$(awk '{printf "%.3f\n", $1 + $2 + $3}' "$WORK/times" | median)
  # "loss.grad   134   121   2.73x the instructions of loss"
  ratios=$(sed -n 's/^\([^ ]*\) .* \([0-9.]*\)x the instructions of \(.*\)$/\1: \2x (\3 \2)/p' "$WORK/stats" |
           awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')
  printf '%-14s %9s %9s %9s %9s   %s\n' "$name" "$irgen" "$passes" "$grad" "$total" "${ratios:-none}"
  if [ "$name" = tiny_gpt ]; then
    worst=$(sed -n 's/.* \([0-9.]*\)x the instructions of .*/\1/p' "$WORK/stats" | sort -g | tail -1)
    if awk -v t="$total" 'BEGIN {exit !(t >= 50)}'; then
      echo "  tiny_gpt: total $total ms misses the 50 ms target"; fail=1
    fi
    if [ -n "$worst" ] && awk -v r="$worst" 'BEGIN {exit !(r >= 3)}'; then
      echo "  tiny_gpt: gradient/forward ratio ${worst}x misses the 3x target"; fail=1
    fi
  fi
done
echo "(median of $RUNS runs of $NNC --stats; targets for tiny_gpt: total < 50 ms, ratio < 3x)"
exit $fail
