#!/usr/bin/env bash
# demo.sh — the main job, from a fresh machine: install what is missing,
# build nnc, and check every sample model, printing a summary of each.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
bash "$top/scripts/deps.sh"
bash "$top/scripts/build.sh" "$top/build"
for f in "$top"/samples/*.nn; do
  "$top/build/compiler/nnc" check "$f"
done
