#!/usr/bin/env bash
# run_cli.sh NNC — the nnc command line: help, version, usage errors (exit
# 2), unreadable files (exit 1), -D, -o, -fsyntax-only, colour (--color,
# NO_COLOR, terminal detection), and `nnc check` on every sample.
set -uo pipefail
nnc="$1"
top="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
esc=$'\033'

# run NAME STATUS CMD... — run CMD, keep its stdout/stderr in $out/$err, and
# check its exit status.
run() {
  local name="$1" want="$2"
  shift 2
  n=$((n + 1))
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  out="$(cat "$tmp/out")"
  err="$(cat "$tmp/err")"
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit status $got, expected $want"
    echo "  stdout: $(head -c 300 "$tmp/out")"
    echo "  stderr: $(head -c 300 "$tmp/err")"
    fail=$((fail + 1))
    return 1
  fi
}
# has NAME TEXT PATTERN / lacks NAME TEXT PATTERN — grep -E checks.
has() {
  if ! grep -q -E -- "$3" <<<"$2"; then
    echo "FAIL $1: expected /$3/ in: $(head -c 300 <<<"$2")"
    fail=$((fail + 1))
  fi
}
lacks() {
  if grep -q -E -- "$3" <<<"$2"; then
    echo "FAIL $1: unexpected /$3/ in: $(head -c 300 <<<"$2")"
    fail=$((fail + 1))
  fi
}
empty() {
  if [ -n "$2" ]; then
    echo "FAIL $1: expected no output, got: $(head -c 300 <<<"$2")"
    fail=$((fail + 1))
  fi
}

mlp="$top/samples/fashion_mlp.nn"
bad="$top/tests/errors/shape_matmul_inner.nn"
warn="$top/tests/errors/warn_unused_variable.nn"

run help 0 "$nnc" --help && { has help "$out" '^usage: nnc'; empty help-stderr "$err"; }
run help-short 0 "$nnc" -h && has help-short "$out" '^usage: nnc'
run version 0 "$nnc" --version && has version "$out" '^nnc [0-9]+\.[0-9]+\.[0-9]+$'

run unknown-option 2 "$nnc" --frobnicate "$mlp" &&
  { has unknown-option "$err" "unknown option '--frobnicate'"; has unknown-option-usage "$err" '^usage: nnc'; empty unknown-option-stdout "$out"; }
run no-input 2 "$nnc" check && has no-input "$err" 'no input file'
run two-inputs 2 "$nnc" check "$mlp" "$mlp" && has two-inputs "$err" 'more than one input file'
run bad-emit 2 "$nnc" --emit=frob "$mlp" && has bad-emit "$err" "unknown --emit kind 'frob'"
run bad-color 2 "$nnc" --color=sometimes "$mlp" && has bad-color "$err" "--color takes auto, always or never"
run bad-max-errors 2 "$nnc" -fmax-errors=many "$mlp" && has bad-max-errors "$err" 'bad value'
for v in '' 0 abc 12Q -5 1.5 9999999999999999999999 8589934592G; do
  run bad-max-tape-bytes 2 "$nnc" --max-tape-bytes="$v" "$mlp" && has bad-max-tape-bytes "$err" "--max-tape-bytes takes a size in bytes"
done
run max-tape-bytes-k 0 "$nnc" --emit=tape --max-tape-bytes=64K "$mlp" && has max-tape-bytes-k "$out" 'values saved by @loss.grad'
run define-no-equals 2 "$nnc" check -D B "$mlp" && has define-no-equals "$err" "-D needs NAME=VALUE, not 'B'"
run define-missing 2 "$nnc" check "$mlp" -D && has define-missing "$err" '-D needs NAME=VALUE'
run o-missing 2 "$nnc" "$mlp" -o && has o-missing "$err" '-o needs a path'

# the shared flags (compiler/cli.h) mean the same in every command (before:
# nnc train read a bad --color as auto and passed -fmax-errors on to the
# training program; nnc FILE.ir read a bad --color as auto too)
many="$top/tests/errors/too_many_errors.nn"
run train-bad-color 2 "$nnc" train --color=sometimes "$mlp" &&
  { has train-bad-color "$err" "^nnc train: error: --color takes auto, always or never, not 'sometimes'"; empty train-bad-color-stdout "$out"; }
run train-bad-max-errors 2 "$nnc" train -fmax-errors=many "$mlp" &&
  has train-bad-max-errors "$err" "^nnc train: error: bad value in '-fmax-errors=many'"
run train-max-errors 1 "$nnc" train --color=never -fmax-errors=2 "$many" &&
  { has train-max-errors "$(grep -c ': error: ' <<<"$err")" '^2$'; has train-max-errors-fatal "$err" 'too many errors emitted'; }
run check-max-errors 1 "$nnc" check --color=never -fmax-errors=2 "$many" &&
  has check-max-errors "$(grep -c ': error: ' <<<"$err")" '^2$'
run train-max-errors-default 1 "$nnc" train --color=never "$many" &&
  has train-max-errors-default "$(grep -c ': error: ' <<<"$err")" '^20$'
run train-color-always 1 "$nnc" train --color=always "$bad" && has train-color-always "$err" "$esc\\[1;31merror: "
run train-color-never 1 "$nnc" train --color=never "$bad" && lacks train-color-never "$err" "$esc"
run train-define-no-equals 2 "$nnc" train -D B "$mlp" && has train-define-no-equals "$err" "-D needs NAME=VALUE, not 'B'"
run eval-define-no-equals 2 "$nnc" eval -D B "$mlp" && has eval-define-no-equals "$err" "-D needs NAME=VALUE, not 'B'"
run ir-bad-color 2 "$nnc" --color=sometimes "$top/tests/ir/parse.ir" &&
  has ir-bad-color "$err" "--color takes auto, always or never, not 'sometimes'"

# nnc FILE.ir takes the code-generation flags of nnc FILE.nn (cli_common)
"$nnc" --emit=ir "$mlp" -o "$tmp/mlp.ir" || { echo "FAIL ir-write"; fail=$((fail + 1)); }
run ir-name 0 "$nnc" "$tmp/mlp.ir" --emit=lib --name=clf -o "$tmp/libclf.so" &&
  has ir-name "$(grep -c 'clf_loss' "$tmp/clf.h")" '^[1-9]'
run ir-target 0 "$nnc" "$tmp/mlp.ir" --emit=obj --target=aarch64-linux-gnu -o "$tmp/a64.o" &&
  has ir-target "$(od -An -tx1 -j18 -N2 "$tmp/a64.o")" '^ *b7 00'
run ir-mcpu 0 "$nnc" "$tmp/mlp.ir" --emit=asm -mcpu=x86-64 -o "$tmp/generic.s" &&
  lacks ir-mcpu "$(cat "$tmp/generic.s")" 'ymm|zmm'
run ir-fast-math 0 "$nnc" "$tmp/mlp.ir" --emit=llvm-ir -ffast-math -o "$tmp/fast.ll" &&
  has ir-fast-math "$(cat "$tmp/fast.ll")" '(fadd|fmul) fast '
run ir-bad-name 2 "$nnc" "$tmp/mlp.ir" --emit=lib --name=9lives && has ir-bad-name "$err" "--name must be a C identifier, not '9lives'"
run nn-bad-name 2 "$nnc" "$mlp" --emit=lib --name=a-b && has nn-bad-name "$err" "--name must be a C identifier, not 'a-b'"
run nn-empty-target 2 "$nnc" "$mlp" --emit=obj --target= && has nn-empty-target "$err" "--target= needs a value"

run missing-file 1 "$nnc" check "$tmp/nope.nn" &&
  { has missing-file "$err" "nope.nn: error: cannot read the file: No such file or directory"; empty missing-file-stdout "$out"; }
run directory 1 "$nnc" check "$tmp" && has directory "$err" 'cannot read the file: is a directory'
# a source from a pipe (process substitution) is read to its end
run pipe-source 0 bash -c '"$0" check <(cat "$1")' "$nnc" "$top/samples/fashion_mlp.nn" &&
  has pipe-source "$out" 'model fashion_mlp: 6 parameter tensors'

# check: a summary on stdout, nothing on stderr
run check 0 "$nnc" check "$mlp" &&
  { has check "$out" 'model fashion_mlp: 6 parameter tensors, 269,322 values'; empty check-stderr "$err"; }
run check-default-command 0 "$nnc" "$mlp" && has check-default-command "$out" 'model fashion_mlp'
run check-errors 1 "$nnc" check --color=never "$bad" &&
  { has check-errors "$err" 'error: matmul needs the inner dimensions to agree'; empty check-errors-stdout "$out"; }
run check-warnings 0 "$nnc" check --color=never "$warn" && has check-warnings "$err" "warning: unused variable 'a'"

# -D, separate and joined, reaches the types
run define 0 "$nnc" check -D B=32 "$mlp" && has define "$out" 'fn forward\(x: f32\[B<=32,784\]\) -> f32\[B<=32,10\]'
run define-joined 0 "$nnc" check -DB=16 -DH=64 "$mlp" &&
  { has define-joined "$out" 'fn loss\(x: f32\[B<=16,784\], y: i32\[B<=16\]\) -> f32'; has define-joined-H "$out" 'W2 +f32\[64,64\]'; }
run define-float 0 "$nnc" --emit=ast -D B=8.0 "$mlp" && has define-float "$out" 'const B = 8 \(from -D\)'
run define-unknown 1 "$nnc" check --color=never -D NOPE=1 "$mlp" &&
  has define-unknown "$err" "there is no constant named 'NOPE' to override"
run define-bad-value 1 "$nnc" check --color=never -D B=lots "$mlp" &&
  has define-bad-value "$err" 'the value must be a decimal number or true/false'

# -o writes the output there and nothing to stdout
run output 0 "$nnc" --emit=ast -o "$tmp/ast.txt" "$mlp" && empty output-stdout "$out"
has output-file "$(cat "$tmp/ast.txt" 2>/dev/null)" '^model fashion_mlp'
run output-check 0 "$nnc" check -o "$tmp/summary.txt" "$mlp" && empty output-check-stdout "$out"
has output-check-file "$(cat "$tmp/summary.txt" 2>/dev/null)" 'model fashion_mlp: 6 parameter tensors'
run output-unwritable 1 "$nnc" --emit=ast -o "$tmp/no/such/dir/ast.txt" "$mlp" && has output-unwritable "$err" "cannot write"

# -fsyntax-only: silent on success, errors as usual
run syntax-only 0 "$nnc" -fsyntax-only "$mlp" && { empty syntax-only-stdout "$out"; empty syntax-only-stderr "$err"; }
run syntax-only-check 0 "$nnc" check -fsyntax-only "$mlp" && empty syntax-only-check "$out"
run syntax-only-errors 1 "$nnc" -fsyntax-only --color=never "$bad" && has syntax-only-errors "$err" 'error: matmul'

# colour: forced, refused, and automatic (on a terminal unless NO_COLOR)
run color-always 1 "$nnc" check --color=always "$bad" && has color-always "$err" "$esc\\[1;31merror: "
run color-never 1 "$nnc" check --color=never "$bad" && lacks color-never "$err" "$esc"
run color-auto-pipe 1 "$nnc" check "$bad" && lacks color-auto-pipe "$err" "$esc"
run color-always-no-color 1 env NO_COLOR=1 "$nnc" check --color=always "$bad" && has color-always-no-color "$err" "$esc"
if command -v script >/dev/null; then
  # script(1) gives nnc a terminal; its output comes back on our stdout
  run color-tty 1 env -u NO_COLOR script -qec "'$nnc' check --color=auto '$bad'" /dev/null &&
    has color-tty "$out" "$esc\\[1;31merror: "
  run color-tty-no-color 1 env NO_COLOR=1 script -qec "'$nnc' check '$bad'" /dev/null &&
    { has color-tty-no-color "$out" 'error: matmul'; lacks color-tty-no-color-esc "$out" "$esc"; }
else
  echo "note: script(1) not found, terminal colour not tested"
fi

# NNC_ISA caps the host's instruction set in generated code, as in the runtime
if grep -q avx512f /proc/cpuinfo 2>/dev/null; then
  run isa-host 0 "$nnc" "$mlp" --emit=asm -o "$tmp/host.s" &&
    has isa-host "$(grep -c zmm "$tmp/host.s")" '^[1-9]'
fi
if grep -q avx2 /proc/cpuinfo 2>/dev/null; then
  run isa-avx2 0 env NNC_ISA=avx2 "$nnc" "$mlp" --emit=asm -o "$tmp/avx2.s" &&
    { has isa-avx2 "$(grep -c ymm "$tmp/avx2.s")" '^[1-9]'; lacks isa-avx2-zmm "$(cat "$tmp/avx2.s")" 'zmm'; }
fi
run isa-c 0 env NNC_ISA=c "$nnc" "$mlp" --emit=asm -o "$tmp/c.s" &&
  lacks isa-c-ymm "$(cat "$tmp/c.s")" 'ymm|zmm'

# every sample checks, with its own sizes and with small ones
for f in "$top"/samples/*.nn; do
  name="$(basename "$f" .nn)"
  run "sample-$name" 0 "$nnc" check --color=never "$f" && { has "sample-$name" "$out" "model $name:"; empty "sample-$name-stderr" "$err"; }
  # small sizes: B=2, T=4, every other integer constant above 8 becomes 8
  defs=()
  while read -r c v; do
    case $c in
      B) defs+=(-D B=2) ;;
      T) defs+=(-D T=4) ;;
      *) if [ "$v" -gt 8 ]; then defs+=(-D "$c=8"); fi ;;
    esac
  done < <(sed -n -e 's/^const \([A-Za-z_][A-Za-z0-9_]*\) = \([0-9][0-9]*\)\( .*\)\{0,1\}$/\1 \2/p' \
                  -e 's/^dim \([A-Za-z_][A-Za-z0-9_]*\) <= \([0-9][0-9]*\)\( .*\)\{0,1\}$/\1 \2/p' "$f")
  [ "${#defs[@]}" -gt 0 ] || { echo "FAIL sample-$name: no constants to shrink"; fail=$((fail + 1)); }
  run "sample-$name-small" 0 "$nnc" check --color=never "${defs[@]}" "$f" &&
    { empty "sample-$name-small-stderr" "$err"; has "sample-$name-small" "$out" 'fn loss\([a-z]+: [a-z0-9]+\[([A-Za-z]+<=)?2,'; }
done

# a user function whose C name is a generated gradient's (loss_grad and
# loss.grad are both NAME_loss_grad): refused, at the user function
cat >"$tmp/clash.nn" <<'NN'
model clash {
  param w: f32[4] = ones()
  fn loss(x: f32[4]) -> f32 { return sum(x * w) }
  fn loss_grad(x: f32[4]) -> f32[4] { return grad(loss, wrt = [x])(x) }
}
NN
run c-name-clash 1 "$nnc" "$tmp/clash.nn" --emit=lib -o "$tmp/libclash.so" --color=never &&
  has c-name-clash "$err" "clash.nn:4:6: error: function 'loss_grad' has the C name clash_loss_grad of 'loss.grad', the generated gradient; rename it"
# nnc check finds it too (it builds the gradients to know their names),
# under the prefix --name gives
run c-name-clash-check 1 "$nnc" check "$tmp/clash.nn" --name=cl --color=never &&
  has c-name-clash-check "$err" "clash.nn:4:6: error: function 'loss_grad' has the C name cl_loss_grad of 'loss.grad', the generated gradient; rename it"

# more prepacked weights in one function than the memory plan reserves
# (tests/nn/many_prepacks.nn): the compiler once wrote into the IR's memory
# and crashed; compiled here too so that the sanitized pass runs it
run many-prepacks 0 "$nnc" "$top/tests/nn/many_prepacks.nn" --emit=lib -o "$tmp/libmany.so"

echo "cli: $n commands run, $fail failures"
[ "$fail" = 0 ]
