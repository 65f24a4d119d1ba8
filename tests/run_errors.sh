#!/usr/bin/env bash
# run_errors.sh NNC [--regen] [NAME...] — golden diagnostics tests.
#
# Each tests/errors/NAME.nn is checked with
#     cd tests/errors && NNC check --color=never [ARGS] NAME.nn
# and its standard error must equal NAME.err byte for byte. ARGS come from a
# first line `// ARGS: ...` (e.g. -D B=0). The exit status must be 1 when
# NAME.err holds an error, 0 when it holds only warnings.
#
# NAME.gen is a bash script that prints the source instead (for inputs too
# big or too odd to commit, such as a 10 MB file); it is run into a
# temporary directory as NAME.nn and then treated the same way.
#
# --regen rewrites the .err files from nnc's current output: do it on
# purpose, then read the diff. With NAME arguments only those cases run.
set -uo pipefail
if [ $# -lt 1 ]; then
  echo "usage: run_errors.sh NNC [--regen] [NAME...]" >&2
  exit 2
fi
nnc="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shift
regen=0
if [ "${1:-}" = "--regen" ]; then
  regen=1
  shift
fi
dir="$(cd "$(dirname "$0")/errors" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in "$dir"/*.nn "$dir"/*.gen; do
    [ -e "$f" ] || continue
    b="$(basename "$f")"
    names+=("${b%.*}")
  done
fi

pass=0
fail=0
for name in "${names[@]}"; do
  if [ -f "$dir/$name.nn" ]; then
    src="$dir/$name.nn"
    rundir="$dir"
  elif [ -f "$dir/$name.gen" ]; then
    mkdir -p "$tmp/gen"
    bash "$dir/$name.gen" >"$tmp/gen/$name.nn"
    src="$tmp/gen/$name.nn"
    rundir="$tmp/gen"
  else
    echo "FAIL $name: no $name.nn or $name.gen"
    fail=$((fail + 1))
    continue
  fi
  args=()
  first="$(head -n 1 "$src" | tr -d '\0')"
  if [[ "$first" == "// ARGS:"* ]]; then
    read -r -a args <<<"${first#// ARGS:}"
  fi
  (cd "$rundir" && NO_COLOR= timeout 20 "$nnc" check --color=never "${args[@]}" "$name.nn") \
    >/dev/null 2>"$tmp/actual"
  status=$?
  if [ "$regen" = 1 ]; then
    cp "$tmp/actual" "$dir/$name.err"
  fi
  if [ ! -f "$dir/$name.err" ]; then
    echo "FAIL $name: no $name.err (run with --regen to create it)"
    fail=$((fail + 1))
    continue
  fi
  if grep -q -E ': (fatal )?error: ' "$dir/$name.err"; then want=1; else want=0; fi
  ok=1
  if ! diff -u --label "$name.err (expected)" --label "$name.err (actual)" \
       "$dir/$name.err" "$tmp/actual"; then
    ok=0
  fi
  if [ "$status" != "$want" ]; then
    echo "FAIL $name: exit status $status, expected $want"
    ok=0
  fi
  if [ "$ok" = 1 ]; then
    pass=$((pass + 1))
  else
    echo "FAIL $name"
    fail=$((fail + 1))
  fi
done
echo "golden errors: $pass passed, $fail failed"
[ "$fail" = 0 ]
