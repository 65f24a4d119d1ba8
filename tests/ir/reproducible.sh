#!/usr/bin/env bash
# reproducible.sh NNC — the compiler's output does not depend on where the
# heap puts things: the same model compiled 8 times (each run a new process,
# so a new address layout) gives byte-identical LLVM IR. The model is
# samples/char_rnn.nn with a gradient penalty and a Hessian-vector product
# added: second-order code whose loops prepack two weights at the same
# position. The memory plan once ordered such ties by heap address, and 8
# runs gave 4 different workspace layouts. Also fashion_cnn (argmax tapes)
# and tiny_gpt, whose parallel tasks' context fields were once in hash-map
# (heap address) order.
set -uo pipefail
nnc="$1"
top="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
awk '{ lines[NR] = $0 } END {
       for (i = NR; i >= 1; i--) if (lines[i] ~ /^}/) { last = i; break }
       for (i = 1; i < last; i++) print lines[i]
       print "  fn gp(x: i32[B, T], y: i32[B, T]) -> f32 {"
       print "    let g = grad(loss, wrt = [emb])(x, y)"
       print "    return loss(x, y) + 0.1 * sum(g * g)"
       print "  }"
       print "  fn hvp(x: i32[B, T], y: i32[B, T], v: f32[V, E]) -> f32[V, E] {"
       print "    let (_g, hv) = jvp(grad(loss, wrt = [emb]), wrt = [emb], tangents = [v])(x, y)"
       print "    return hv"
       print "  }"
       for (i = last; i <= NR; i++) print lines[i] }' "$top/samples/char_rnn.nn" >"$tmp/rnn_gp.nn"
grep -q 'fn gp' "$tmp/rnn_gp.nn" || { echo "FAIL: no gp function in the model"; exit 1; }
check() {
  local name="$1"
  shift
  for i in 1 2 3 4 5 6 7 8; do
    "$nnc" "$@" --emit=llvm-ir -o "$tmp/$name.$i.ll" || { echo "FAIL $name: nnc exited $?"; fail=1; return; }
  done
  local n
  n="$(md5sum "$tmp/$name".*.ll | cut -d' ' -f1 | sort -u | wc -l)"
  if [ "$n" != 1 ]; then
    echo "FAIL $name: 8 compilations gave $n different LLVM IRs"
    fail=1
  else
    echo "ok $name: 8 compilations, one LLVM IR"
  fi
}
check rnn_gp "$tmp/rnn_gp.nn" -D B=2 -D T=5 -D E=3 -D H=4
check cnn "$top/samples/fashion_cnn.nn" -D B=4
check gpt "$top/samples/tiny_gpt.nn"
exit $fail
