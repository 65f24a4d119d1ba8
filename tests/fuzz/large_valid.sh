#!/usr/bin/env bash
# large_valid.sh NNC [SEEDS] — generator of large but valid programs (issue
# 15): for each seed, a model with random counts of parameters, loop-
# carried vars, arguments of a user function and inputs of an entry point,
# a deep chain of calls, a wide concat and a long run of statements, all
# under the checker's limits. Each must check (exit 0), compile to its
# gradient, plan and tape (--emit=tape: irgen, the passes, AD, the plan)
# and print IR that nnc reads back and verifies. A crash, an internal error
# or a diagnostic is a failure. Sizes are drawn so that one seed takes
# well under a second.
set -euo pipefail
nnc="$1"
seeds="${2:-1 2 3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
for seed in $seeds; do
  src="$tmp/large$seed.nn"
  awk -v seed="$seed" 'function r(lo, hi) { return lo + int(rand() * (hi - lo + 1)) }
  BEGIN {
    srand(seed)
    np = r(200, 3000); nv = r(257, 600); na = r(257, 400); ni = r(256, 320)
    nd = r(100, 400); nc = r(257, 800); ns = r(500, 3000)
    printf "// seed %d: %d params, %d vars, %d args, %d inputs, %d calls deep, concat of %d, %d statements\n", seed, np, nv, na, ni, nd, nc, ns
    print "model large {"
    for (i = 0; i < np; i++) printf "  param p%d: f32[4] = normal(0.0, 0.1)\n", i
    # a user function of na arguments
    printf "  fn wide("
    for (i = 0; i < na; i++) printf "%sa%d: f32[4]", i ? ", " : "", i
    printf ") -> f32[4] {\n    var s = a0\n"
    for (i = 1; i < na; i += r(1, 7)) printf "    s = s + a%d\n", i
    print "    return s\n  }"
    # a chain of nd calls
    print "  fn c0(x: f32[4]) -> f32[4] { return x * p0 }"
    for (i = 1; i < nd; i++) printf "  fn c%d(x: f32[4]) -> f32[4] { return c%d(x) + p%d }\n", i, i - 1, i % np
    # the training loss: vars carried through a loop, statements, the chain, a concat, the wide call
    print "  fn loss(x: f32[4]) -> f32 {"
    for (i = 0; i < nv; i++) printf "    var v%d = x * p%d\n", i, i % np
    print "    for t in 0..2 {"
    for (i = 0; i < nv; i++) printf "      v%d = v%d * 0.5 + v%d\n", i, i, (i + 1) % nv
    print "    }"
    print "    let h0 = v0"
    for (i = 1; i <= ns; i++) {
      k = r(0, 3)
      if (k == 0) printf "    let h%d = tanh(h%d * p%d)\n", i, i - 1, i % np
      else if (k == 1) printf "    let h%d = h%d + v%d * %d.5\n", i, i - 1, i % nv, r(0, 9)
      else if (k == 2) printf "    let h%d = sigmoid(h%d) - h%d * p%d\n", i, i - 1, (i > 1 ? i - 2 : 0), i % np
      else printf "    let h%d = concat([h%d[0:2], h%d[2:4]])\n", i, i - 1, i - 1
    }
    printf "    let w = concat(["
    for (i = 0; i < nc; i++) printf "%sp%d", i ? ", " : "", i % np
    printf "])\n"
    printf "    let y = wide("
    for (i = 0; i < na; i++) printf "%sv%d", i ? ", " : "", i % nv
    printf ") + c%d(h%d)\n", nd - 1, ns
    print "    return sum(y * y) + sum(w * w)"
    print "  }"
    # an entry point of ni inputs
    printf "  fn many("
    for (i = 0; i < ni; i++) printf "%sx%d: f32[4]", i ? ", " : "", i
    printf ") -> f32[4] {\n    return x0"
    for (i = 1; i < ni; i++) printf " + x%d", i
    print "\n  }"
    print "}"
  }' >"$src"
  head -1 "$src"
  for step in check tape ir; do
    case $step in
    check) cmd=("$nnc" check --color=never "$src") ;;
    tape) cmd=("$nnc" --color=never --emit=tape -o "$tmp/tape" "$src") ;;
    ir) cmd=("$nnc" --color=never --emit=ir -o "$tmp/large.ir" "$src") ;;
    esac
    if ! "${cmd[@]}" >"$tmp/out" 2>"$tmp/err"; then
      echo "FAIL seed $seed: nnc ${cmd[1]} exited $? on a valid program:" >&2
      head -5 "$tmp/err" >&2
      fail=1
      continue 2
    fi
  done
  if ! "$nnc" "$tmp/large.ir" >/dev/null 2>"$tmp/err"; then
    echo "FAIL seed $seed: nnc does not read back the IR it printed:" >&2
    head -5 "$tmp/err" >&2
    fail=1
  fi
done
exit $fail
