#!/usr/bin/env bash
# fuzz.sh [SECONDS] — fuzz the front end (lexer, parser, checker,
# diagnostics) with libFuzzer under ASan+UBSan for SECONDS (default 60) on
# two workers; exits non-zero if any input crashes, hangs, leaks or blows
# the memory limit.
#
#   build dir  $NNC_FUZZ_BUILD, default build-fuzz/ (CC=clang-19, -DNNC_FUZZ=ON)
#   seeds      samples/*.nn, tests/errors/*.nn, tests/fuzz/crashers/*
#   corpus     BUILD/fuzz-corpus (kept between runs, grows)
#   crashes    BUILD/fuzz-artifacts/; keep each one as a test: a .nn/.err
#              pair in tests/errors/, or the raw file in tests/fuzz/crashers/
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-60}"
dir="${NNC_FUZZ_BUILD:-$top/build-fuzz}"

CC=clang-19 cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DNNC_FUZZ=ON >/dev/null
cmake --build "$dir" -j 2 --target fuzz_frontend >/dev/null
fuzzer="$dir/tests/fuzz_frontend"

seeds="$dir/fuzz-seeds"
corpus="$dir/fuzz-corpus"
artifacts="$dir/fuzz-artifacts"
logs="$dir/fuzz-logs"
rm -rf "$seeds" "$artifacts" "$logs"
mkdir -p "$seeds" "$corpus" "$artifacts" "$logs"
cp "$top"/samples/*.nn "$seeds"/
cp "$top"/tests/errors/*.nn "$seeds"/ 2>/dev/null || true
cp "$top"/tests/fuzz/crashers/* "$seeds"/ 2>/dev/null || true

echo "fuzz: $secs s on 2 workers, corpus $corpus"
rc=0
(cd "$logs" &&
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$fuzzer" -max_total_time="$secs" -jobs=2 -workers=2 -timeout=10 \
    -rss_limit_mb=2048 -max_len=16384 -dict="$top/tests/fuzz/nn.dict" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" "$seeds" \
    >"$logs/main.log" 2>&1) || rc=$?

runs=$(cat "$logs"/fuzz-*.log 2>/dev/null | sed -n 's/^stat::number_of_executed_units: *//p' |
       awk '{s += $1} END {print s + 0}')
echo "fuzz: $runs inputs executed, corpus now $(ls "$corpus" | wc -l) files"
found=$(ls "$artifacts" | wc -l)
if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
  echo "fuzz: FAILED (status $rc, $found artifact(s) in $artifacts)" >&2
  grep -h -A 30 -E '^==[0-9]+==ERROR|runtime error|ALARM|out-of-memory|deadly signal' "$logs"/*.log \
    | head -80 >&2 || true
  ls -l "$artifacts" >&2
  exit 1
fi
echo "fuzz: no crash, hang or leak"
