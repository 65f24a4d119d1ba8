#!/usr/bin/env bash
# build.sh [DIR] [cmake args...] — configure and build nnc into DIR
# (default: build/ at the top of the checkout), using both cores.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$top/build}"
shift || true
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
