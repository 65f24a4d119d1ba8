#!/usr/bin/env bash
# deriv.sh — the cost of derivatives written in .nn, against the primal:
# forward-mode jvp of a sample's loss along its input (target <= 1.5x the
# loss) and the forward-over-reverse Hessian-vector product (target <= 5x),
# compiled to a library (-O2) and timed by bench/deriv_bench.c. Prints
# ratios; tests never time anything.
#
#   bash bench/deriv.sh [path/to/nnc] [THREADS]
#
# The models are samples/fashion_mlp.nn and samples/fashion_cnn.nn with
# these two functions added to the model, and their run-time batch made
# static (const B = bound; the samples are not changed):
#   fn tan(x, y, v) -> f32 { let (_l, t) = jvp(loss, wrt = [x], tangents = [v])(x, y); return t }
#   fn hvp(x, y, v) -> X   { let (_g, hv) = jvp(grad(loss, wrt = [x]), wrt = [x], tangents = [v])(x, y); return hv }
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
nnc="${1:-$top/build/compiler/nnc}"
threads="${2:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -O2 "$top/bench/deriv_bench.c" -o "$work/deriv_bench" -ldl

# add_fns SAMPLE XTYPE: the sample with tan and hvp appended inside its model
add_fns() {
  local s="$1" xt="$2"
  awk -v xt="$xt" '
    { sub(/^dim B <= /, "const B = "); lines[NR] = $0 } # static: deriv_bench calls f(m, x, ...)
    END {
      last = 0
      for (i = NR; i >= 1; i--) if (lines[i] ~ /^}/) { last = i; break }
      for (i = 1; i < last; i++) print lines[i]
      print "  fn tan(x: " xt ", y: i32[B], v: " xt ") -> f32 {"
      print "    let (_l, t) = jvp(loss, wrt = [x], tangents = [v])(x, y)"
      print "    return t"
      print "  }"
      print "  fn hvp(x: " xt ", y: i32[B], v: " xt ") -> " xt " {"
      print "    let (_g, hv) = jvp(grad(loss, wrt = [x]), wrt = [x], tangents = [v])(x, y)"
      print "    return hv"
      print "  }"
      for (i = last; i <= NR; i++) print lines[i]
    }' "$top/samples/$s.nn" > "$work/$s.nn"
}

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), ISA cap: ${NNC_ISA:-best}"
run() {
  local s="$1" xt="$2" xn="$3" name="$4" b="$5"
  add_fns "$s" "$xt"
  "$nnc" "$work/$s.nn" --emit=lib -O2 -o "$work/lib$s.so"
  "$work/deriv_bench" "$work/lib$s.so" "$name" "$threads" "$xn" "$b" 10
}
run fashion_mlp "f32[B, 784]" $((128 * 784)) fashion_mlp 128
run fashion_cnn "f32[B, 1, 28, 28]" $((64 * 784)) fashion_cnn 64
echo "targets: jvp/primal <= 1.5, hvp/primal <= 5"
