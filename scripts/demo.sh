#!/usr/bin/env bash
# demo.sh [SAMPLE] — the main job, from a fresh Debian machine:
#   1. install what is missing (scripts/deps.sh: apt-get as root)
#   2. build nnc
#   3. compile samples/SAMPLE.nn (default fashion_mlp) to a training program
#   4. train it on Fashion-MNIST (or English text for the character models)
#      with a progress bar, evaluate, and print the test accuracy
# Outputs go to build/demo/: the program, a checkpoint, metrics CSV, plot.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
sample="${1:-fashion_mlp}"
shift || true

bash "$top/scripts/deps.sh"
bash "$top/scripts/build.sh" "$top/build"

out="$top/build/demo"
mkdir -p "$out"
nnc="$top/build/compiler/nnc"
src="$top/samples/$sample.nn"
[ -f "$src" ] || { echo "demo: no sample $src" >&2; exit 2; }

echo "== compiling $src"
"$nnc" check "$src"
"$nnc" "$src" --emit=exe -o "$out/$sample"

echo "== training (Ctrl-C saves a checkpoint and prints how to resume)"
cd "$out"
exec "./$sample" --checkpoint "$out/$sample.ckpt.safetensors" \
  --metrics "$out/$sample.metrics.csv" --plot "$out/$sample.svg" "$@"
