#!/usr/bin/env bash
# test.sh — the whole test suite, from a fresh machine:
#   1. install missing Debian packages (scripts/deps.sh)
#   2. build and run every test (ctest) in build/
#   3. build the compiler and runtime without MPI, run the MPI tests' subset
#   4. build again with AddressSanitizer + UndefinedBehaviorSanitizer in
#      build-asan/ and run the tests there
#   5. run the front-end fuzzer for a bounded time under ASan
#   6. compile the runtime for aarch64 (scripts/cross.sh)
# Exits non-zero at the first failure.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(nproc)"

bash "$top/scripts/deps.sh"

echo "== build (release) and test"
bash "$top/scripts/build.sh" "$top/build"
ctest --test-dir "$top/build" -j "$jobs" --output-on-failure

echo "== build without MPI and run the tests of what MPI changes"
# MPI is optional (runtime/CMakeLists.txt, NNC_MPI): without it the compiler,
# the runtime and one-process training programs work as before, and a
# program started as several ranks says MPI support was not built. Only the
# targets these tests need are built, in release mode.
cmake -S "$top" -B "$top/build-nompi" -DCMAKE_BUILD_TYPE=Release -DNNC_MPI=OFF >/dev/null
cmake --build "$top/build-nompi" -j "$jobs" --target nnc train_tool grad_update_test rt_test_train
ctest --test-dir "$top/build-nompi" -j "$jobs" --output-on-failure -R '^(mpi/|rt_test_train$)'

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
