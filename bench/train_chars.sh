#!/usr/bin/env bash
# train_chars.sh [NNC] [FLAG...] — train the three character models
# (samples/char_rnn.nn, char_lstm.nn, tiny_gpt.nn) with their own train
# blocks (3 epochs on the fortunes), one after the other, and print per model
# the program's own summary line (training time) and the final validation
# bits per character, then a table of both.
#
#   bash bench/train_chars.sh                          # build/compiler/nnc, full runs (minutes each)
#   bash bench/train_chars.sh /work/build/compiler/nnc --limit 200000 --epochs 1
#   MODELS="char_rnn char_lstm" bash bench/train_chars.sh
#
# Each model is built with `nnc samples/NAME.nn --emit=exe` and run in a
# scratch directory (its checkpoints go there) with `--progress none
# --generate 0` and the FLAGs (`./NAME --help` lists them: --limit N for a
# quick check, --threads N; the default is one thread per core). NNC_ISA
# reaches both nnc and the programs. Not a test: times depend on the
# machine's load, which is printed before and after.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
nnc="$top/build/compiler/nnc"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  nnc="$1"
  shift
fi
read -ra models <<<"${MODELS:-char_rnn char_lstm tiny_gpt}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ ! -x "$nnc" ]; then
  echo "no nnc at $nnc (build first, or pass its path)" >&2
  exit 2
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); NNC_ISA=${NNC_ISA:-unset}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); flags: ${*:-none}"

summary=()
for m in "${models[@]}"; do
  echo
  echo "== $m"
  "$nnc" "$top/samples/$m.nn" --emit=exe -o "$work/$m"
  if ! (cd "$work" && "./$m" --progress none --generate 0 "$@" >"$work/$m.txt" 2>&1); then
    cat "$work/$m.txt"
    echo "$m: training failed" >&2
    exit 1
  fi
  grep -E '^(epoch|done)' "$work/$m.txt"
  # done: 3 epochs (3396 steps) in 1:04, 1690 samples/s; validation loss 1.7960 (2.591 bits/char; ...)
  done_line="$(grep -m1 '^done:' "$work/$m.txt")"
  time="$(echo "$done_line" | sed -n -E 's/^done: .* in ([0-9:.]+),.*/\1/p')"
  rate="$(echo "$done_line" | sed -n -E 's/.*, ([0-9]+) samples\/s.*/\1/p')"
  bpc="$(echo "$done_line" | sed -n -E 's/.*\(([0-9.]+) bits\/char.*/\1/p')"
  summary+=("$(printf '%-10s %12s %10s %10s' "$m" "${time:-?}" "${rate:-?}" "${bpc:-?}")")
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-10s %12s %10s %10s\n' model training samples/s bits/char
printf '%s\n' "${summary[@]}"
