#!/usr/bin/env bash
# replay.sh NNC — run `nnc check` on every input in tests/fuzz/crashers/
# (inputs that once crashed, hung or leaked in the front end): each must end
# with exit status 0 or 1 within 20 s, never a signal or a sanitizer report.
# Textual crashers live in tests/errors/ with their expected output instead.
set -uo pipefail
nnc="$1"
dir="$(cd "$(dirname "$0")/crashers" && pwd)"
n=0
fail=0
for f in "$dir"/*; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  timeout 20 "$nnc" check --color=never "$f" >/dev/null 2>"${TMPDIR:-/tmp}/replay.$$"
  rc=$?
  if [ "$rc" -gt 1 ] || grep -q -E 'Sanitizer|runtime error' "${TMPDIR:-/tmp}/replay.$$"; then
    echo "FAIL $(basename "$f"): exit status $rc"
    head -20 "${TMPDIR:-/tmp}/replay.$$"
    fail=$((fail + 1))
  fi
done
rm -f "${TMPDIR:-/tmp}/replay.$$"
echo "fuzz crashers: $n replayed, $fail failed"
[ "$n" -gt 0 ] && [ "$fail" = 0 ]
