#!/usr/bin/env bash
# check_docs.sh SRCDIR — docs/language.md must document every builtin of
# compiler/builtins.def (as `name(`), every initializer of check_param.c's
# init_defs (as `name(`) and every train setting of train.c's keys (as
# `key`). Fails listing what is missing.
set -uo pipefail
src="$1"
doc="$src/docs/language.md"
missing=0
n=0
need() {  # need KIND TEXT
  n=$((n + 1))
  if ! grep -q -F -- "$2" "$doc"; then
    echo "docs/language.md does not document the $1 $2"
    missing=$((missing + 1))
  fi
}
[ -f "$doc" ] || { echo "no $doc"; exit 1; }
for b in $(sed -n 's/^B([A-Z0-9_]*, *"\([a-z0-9_]*\)".*/\1/p' "$src/compiler/builtins.def"); do
  need builtin "\`$b("
done
for i in $(sed -n '/init_defs\[\] = {/,/};/p' "$src/compiler/check_param.c" | grep -o '{"[a-z_]*"' | tr -d '{"'); do
  need initializer "\`$i("
done
for k in $(sed -n '/keys\[\] = {/,/};/p' "$src/compiler/train.c" | grep -o '"[a-z_]*"' | tr -d '"'); do
  need "train setting" "\`$k\`"
done
# the lists above must not come out empty (a moved table would pass silently)
nb=$(grep -c '^B(' "$src/compiler/builtins.def")
if [ "$nb" -lt 40 ] || [ "$n" -lt $((nb + 20)) ]; then
  echo "found only $nb builtins and $n names in all: did a table move?"
  exit 1
fi
echo "docs: $n names checked, $missing missing"
[ "$missing" = 0 ]
