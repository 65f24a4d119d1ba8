#!/usr/bin/env bash
# test.sh — the whole test suite, from a fresh machine:
#   1. install missing Debian packages (scripts/deps.sh)
#   2. build and run every test (ctest) in build/
#   3. build again with AddressSanitizer + UndefinedBehaviorSanitizer in
#      build-asan/ and run the tests there
#   4. run the front-end fuzzer for a bounded time under ASan
#   5. compile the runtime for aarch64 (scripts/cross.sh)
# Exits non-zero at the first failure.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(nproc)"

bash "$top/scripts/deps.sh"

echo "== build (release) and test"
bash "$top/scripts/build.sh" "$top/build"
ctest --test-dir "$top/build" -j "$jobs" --output-on-failure

echo "== build with ASan+UBSan and test"
bash "$top/scripts/build.sh" "$top/build-asan" -DNNC_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$top/build-asan" -j "$jobs" --output-on-failure -LE slow

if [ -x "$top/scripts/fuzz.sh" ]; then
  echo "== fuzz the front end"
  bash "$top/scripts/fuzz.sh" 60
fi
echo "== the runtime on a non-x86 target"
bash "$top/scripts/cross.sh"
echo "== all tests passed"
