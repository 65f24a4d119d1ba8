#!/usr/bin/env bash
# reroll.sh NNC — compile-time limits of long programs (issue 15 item 3):
# the backend emits one kernel function per structure of repeated kernels
# (compiler/backend/llvm_reroll.c), so the LLVM code of a model of N
# straight-line statements, or of N parameters each used once, must not
# grow with N: the number of LLVM functions is the same at N and 4N, and
# the lines of the functions' code in --emit=llvm-ir (tables and
# descriptors are data) stay
# within 1.5 times. And the rerolled code
# computes what the reference interpreter computes (loss of `nnc eval
# --grad`, compiled against --interp). String constants are one table, each
# text once, the compiler's memory (--stats) grows linearly with N, and code
# generation adds none to it.
# Structural checks only, no timing.
set -euo pipefail
nnc="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0

stmts() { # N: the statements model of bench/frontend.sh
  awk -v N="$1" 'BEGIN {
    print "model long {\n  param w: f32[16, 16] = he_normal()\n  param b: f32[16] = zeros()"
    print "  fn loss(x: f32[8, 16], y: f32[8, 16]) -> f32 {\n    let h0 = x"
    for (i = 1; i < N - 1; i++)
      if (i % 2) printf "    let h%d = tanh(h%d @ w + b) * 0.5 + h%d\n", i, i - 1, i - 1
      else printf "    let h%d = h%d - 0.25 * sigmoid(h%d)\n", i, i - 1, i - 1
    printf "    return mean((h%d - y) * (h%d - y))\n  }\n", N - 2, N - 2
    print "  train {\n    minimize = loss\n    optimizer = sgd(lr = 0.01)\n    epochs = 1\n    data = npy(\"x.npy\", \"y.npy\")\n  }\n}"
  }'
}
params() { # N: the parameters model of bench/frontend.sh
  awk -v N="$1" 'BEGIN {
    print "model many {"
    for (i = 0; i < N; i++) printf "  param p%d: f32[8] = normal(0.0, 0.1)\n", i
    print "  fn forward(x: f32[8, 16]) -> f32[8, 8] {\n    var h = x[:, 0:8]"
    for (i = 0; i < N; i++) printf "    h = tanh(h * p%d)\n", i
    print "    return h\n  }"
    print "  fn loss(x: f32[8, 16], y: f32[8, 16]) -> f32 { return mean((forward(x) - y[:, 0:8]) * (forward(x) - y[:, 0:8])) }"
    print "  train {\n    minimize = loss\n    optimizer = sgd(lr = 0.01)\n    epochs = 1\n    data = npy(\"x.npy\", \"y.npy\")\n  }\n}"
  }'
}
# shape KIND N: "functions longest" of the model's LLVM IR
shape() {
  "$2" "$3" >"$tmp/$1.nn"
  "$nnc" --emit=llvm-ir -O0 -o "$tmp/$1.ll" "$tmp/$1.nn"
  awk '/^define/ { n++; in_fn = 1 } in_fn { len++ } /^}/ { in_fn = 0 } END { print n, len }' "$tmp/$1.ll"
}
# memory NAME [EMIT]: the compiler's arena after the passes and AD, or
# after code generation with EMIT=obj (--stats)
memory() {
  "$nnc" --stats --emit="${2:-ir}" -o "$tmp/mem.out" "$tmp/$1.nn" 2>&1 |
    sed -n 's/.*compiler memory \([0-9]*\) bytes.*/\1/p'
}

# inputs: x and y, f32[8, 16], as .npy (header padded to 128 bytes)
npy() {
  {
    printf '\223NUMPY\001\000\166\000'
    awk 'BEGIN { h = "{\047descr\047: \047<f4\047, \047fortran_order\047: False, \047shape\047: (8, 16), }"
                 while (length(h) < 117) h = h " "; print h }'
    awk -v s="$2" 'BEGIN { srand(s); for (i = 0; i < 128; i++) printf "%.6f\n", rand() - 0.5 }' |
      perl -ne 'print pack("f<", $_)'
  } >"$1"
}
npy "$tmp/x.npy" 1
npy "$tmp/y.npy" 2

for kind in stmts params; do
  small=$(shape "${kind}1" $kind 300)
  large=$(shape "${kind}2" $kind 1200)
  if [ "${small% *}" != "${large% *}" ] || [ $((2 * ${large#* })) -gt $((3 * ${small#* })) ]; then
    echo "FAIL: $kind: LLVM functions and lines grow with N: $small at 300, $large at 1200"
    fail=1
  fi
  # The string constants (parameter names in every function's slots) are
  # one table, each text once: one global per copy made LLVM's
  # ConstantMerge quadratic in their number, one per text still cost a
  # global each (40,000 at 10,000 parameters).
  nstr=$(grep -c '^@str' "$tmp/${kind}2.ll" || true)
  dup=$(sed -n 's/^@strtab[.0-9]* = .*constant \[[0-9]* x i8\] c"\(.*\)"$/\1/p' "$tmp/${kind}2.ll" |
    awk '{ n = split($0, s, /\\00/); for (i = 1; i < n; i++) if (seen[s[i]]++) d++ } END { print d + 0 }')
  if [ "$nstr" -gt 3 ] || [ "$dup" -ne 0 ]; then
    echo "FAIL: $kind 1200: $nstr string globals (at most 3), $dup texts in the table more than once"
    fail=1
  fi
  # A kernel is emitted once per module: the params model's forward
  # layers, lowered again in loss, call forward's kernels, so no two of
  # its kernel functions are the same code (compared without their names
  # and alias metadata). And a rerolled function decodes its table's
  # entries in one loop (addrs[j]), not in code per kernel and root.
  dups=$(awk '/^define internal void @kern/ { k = 1; body = ""; next }
    k && /^}/ { k = 0; if (seen[body]++) d++; next }
    k { gsub(/, !(noalias|alias\.scope) ![0-9]+/, ""); body = body $0 "\n" }
    END { print d + 0 }' "$tmp/${kind}2.ll")
  [ "$kind" = params ] || dups=0
  perroot=$(grep -c 'getelementptr ptr, ptr %addrs, i64 [0-9]' "$tmp/${kind}2.ll" || true)
  if [ "$dups" -ne 0 ] || [ "$perroot" -ne 0 ]; then
    echo "FAIL: $kind 1200: $dups kernel functions the same as another, $perroot addresses stored by code of their own"
    fail=1
  fi
  # Compiler memory is linear: 4 times the statements, at most 8 times the
  # bytes (the arena grows by doubling chunks; quadratic growth gives 16).
  m1=$(memory "${kind}1")
  m2=$(memory "${kind}2")
  if [ -z "$m1" ] || [ -z "$m2" ] || [ "$m2" -gt $((8 * m1)) ]; then
    echo "FAIL: $kind: compiler memory ${m1:-?} bytes at 300, ${m2:-?} at 1200"
    fail=1
  fi
  # Code generation keeps no memory plan in the module's arena: each is
  # made in its own and freed once its function is lowered (1.5x without).
  m3=$(memory "${kind}2" obj)
  if [ -z "$m3" ] || [ $((4 * m3)) -gt $((5 * m2)) ]; then
    echo "FAIL: $kind 1200: compiler memory ${m3:-?} bytes after code generation, $m2 before"
    fail=1
  fi
  jit=$("$nnc" eval "$tmp/${kind}2.nn" --fn loss --grad --input x="$tmp/x.npy" --input y="$tmp/y.npy" -o "$tmp/j.st")
  ref=$("$nnc" eval "$tmp/${kind}2.nn" --fn loss --grad --interp --input x="$tmp/x.npy" --input y="$tmp/y.npy" -o "$tmp/i.st")
  if ! awk -v a="${jit##* }" -v b="${ref##* }" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(d <= 1e-4 * m + 1e-6) }'; then
    echo "FAIL: $kind 1200: compiled $jit, interpreter $ref"
    fail=1
  fi
  echo "$kind: (functions, lines) $small at 300, $large at 1200; memory $m1, $m2 bytes; loss $jit, interpreter $ref"
done
exit $fail
