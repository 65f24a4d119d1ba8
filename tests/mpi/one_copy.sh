#!/usr/bin/env bash
# one_copy.sh NNC SAMPLE.nn... — every sample's training step is its
# gradient function, then apply_update (llvm_module.c gen_train_step): in
# the LLVM IR, the body of NAME__train_step computes nothing (no float or
# double value: it only gathers the two calls' buffer pointers), its only
# calls are those two, and the gradient function is defined once. So the
# gradient code is in the library once (train_step held a copy of it
# before). tests/ir/codegen.nn checks at -O2 that the calls stay calls.
set -euo pipefail
nnc=$1
shift
fail=0
for s in "$@"; do
  ll=$("$nnc" "$s" --emit=llvm-ir -O0 -o -)
  head=$(grep -E '^define internal void @[A-Za-z0-9_]+__train_step\(' <<<"$ll" || true)
  if [[ -z $head ]]; then
    echo "$s: no train_step in the LLVM IR" >&2
    fail=1
    continue
  fi
  p=${head#define internal void @}
  p=${p%%__train_step(*}
  body=$(awk -v h="$head" '$0 == h { on = 1 } on { print } on && /^}/ { exit }' <<<"$ll")
  calls=$(grep -E '^ +(%[^ ]+ = )?(tail )?call ' <<<"$body" | sed -E 's/.*call [^@]*@([A-Za-z0-9_.]+)\(.*/\1/' | tr '\n' ' ')
  floats=$(grep -cE '\b(float|double)\b' <<<"$body" || true)
  grad=${calls%% *}
  defs=$(grep -cE "^define internal void @$grad\\(" <<<"$ll" || true)
  if [[ $calls =~ ^${p}__[A-Za-z0-9_]*grad\ ${p}__apply_update\ $ && $floats == 0 && $defs == 1 ]]; then
    echo "$s: ${p}__train_step calls $calls($(wc -l <<<"$body") lines, no arithmetic)"
  else
    echo "$s: ${p}__train_step is not the gradient then apply_update: calls '$calls', $floats lines of floating-point values, $grad defined $defs times" >&2
    fail=1
  fi
done
exit $fail
