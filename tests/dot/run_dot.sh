#!/usr/bin/env bash
# run_dot.sh NNC MODEL.nn — `nnc MODEL.nn --emit=dot` is a graph Graphviz
# draws without a word: `dot -Tsvg` must succeed and print nothing (no
# syntax error, no warning), and the picture must hold one cluster per
# function of the module. The model is also compiled from a copy whose
# file name holds a quote, a backslash and a non-ASCII letter, which the
# graph's label quotes. Exit 77 (skipped) when Graphviz is not installed.
set -uo pipefail
nnc="$1"
model="$2"
command -v dot >/dev/null || { echo "dot (Graphviz) is not installed: skipped"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0

# draw NAME FILE.nn — emit, render, check
draw() {
  local name="$1" src="$2"
  if ! "$nnc" "$src" --emit=dot -o "$tmp/g.dot" 2>"$tmp/nnc.err"; then
    echo "FAIL $name: nnc --emit=dot failed:"; cat "$tmp/nnc.err"; fail=1; return
  fi
  if ! dot -Tsvg "$tmp/g.dot" -o "$tmp/g.svg" 2>"$tmp/dot.err" || [ -s "$tmp/dot.err" ]; then
    echo "FAIL $name: dot -Tsvg:"; head -20 "$tmp/dot.err"; fail=1; return
  fi
  local funcs clusters
  funcs=$(grep -c '^    label="func @' "$tmp/g.dot")
  clusters=$(grep -c '<title>cluster_' "$tmp/g.svg")
  if [ "$funcs" -lt 1 ] || [ "$clusters" -lt "$funcs" ]; then
    echo "FAIL $name: $funcs function clusters in the DOT, $clusters clusters drawn"; fail=1; return
  fi
  echo "ok $name: $funcs functions, $(grep -c -- ' -> ' "$tmp/g.dot") edges, $clusters clusters"
}

draw "$model" "$model"
weird="$tmp/we\"ird\\nåme.nn"
cp "$model" "$weird"
draw "$model (quoted file name)" "$weird"
exit $fail
