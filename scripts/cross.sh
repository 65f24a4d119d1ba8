#!/usr/bin/env bash
# cross.sh — the runtime builds on a non-x86 target: compiles every
# runtime/*.c for aarch64 Linux with clang (objects thrown away), warnings
# as errors. The AVX kernels sit behind RT_X86 (rt_simd.h); this catches an
# intrinsic, an x86 header or a __builtin_cpu_* call that escaped the guard.
# Needs clang-19 and the aarch64 C library headers (libc6-dev-arm64-cross);
# installs them with apt-get when missing, and skips with a message (exit 0)
# when they cannot be installed.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
sysroot=/usr/aarch64-linux-gnu

have() { command -v clang-19 >/dev/null 2>&1 && [ -f "$sysroot/include/stdio.h" ]; }
if ! have; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "cross: installing clang-19 libc6-dev-arm64-cross" >&2
  if ! { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
           clang-19 libc6-dev-arm64-cross >/dev/null 2>&1 ||
         { $SUDO apt-get update -q >/dev/null 2>&1 &&
           DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
             clang-19 libc6-dev-arm64-cross >/dev/null 2>&1; }; } || ! have; then
    echo "cross: SKIPPED: clang-19 or the aarch64 C headers cannot be installed" >&2
    exit 0
  fi
fi

# The target's own headers first (clang's, then glibc's); /usr/include last,
# for zlib.h, which does not depend on the architecture.
flags=(--target=aarch64-linux-gnu -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wno-unused-parameter -Werror
       -nostdinc -isystem "$(clang-19 -print-resource-dir)/include" -isystem "$sysroot/include"
       -idirafter /usr/include -I"$top/runtime")
n=0
for f in "$top"/runtime/*.c; do
  # rt_mpi.c needs the target's MPI headers; its stub rt_mpi_none.c is compiled
  [ "$(basename "$f")" = rt_mpi.c ] && continue
  clang-19 "${flags[@]}" -c -o /dev/null "$f"
  n=$((n + 1))
done
echo "cross: $n runtime files compile for aarch64"
