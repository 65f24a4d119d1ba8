#!/usr/bin/env bash
# check_options.sh NNC SRCDIR — the man page (docs/nnc.1) and the bash
# completion (completions/nnc.bash) must know every long option that
# `nnc --help`, `nnc eval --help` and `nnc train MODEL --help` (the training
# program's flags) print, and every --emit kind of compiler/cli.c, and the
# page must carry the version of `nnc --version`. Fails
# listing what is missing.
set -uo pipefail
nnc=$1 src=$2
man=$src/docs/nnc.1 comp=$src/completions/nnc.bash
# the page as text: roff's \- is -, font changes go
page=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\c//g' "$man")
missing=0 n=0
need() { # need WHAT TEXT WHERE-NAME WHERE-TEXT
  n=$((n + 1))
  if ! grep -q -F -e "$2" <<<"$4"; then
    echo "$3 does not know the $1 $2"
    missing=$((missing + 1))
  fi
}
opts() { grep -o -E -- '(^|[ ,[])--?[a-z][a-z0-9-]*' | grep -o -E -- '--?[a-z][a-z0-9-]*$' | sort -u; }
main_opts=$("$nnc" --help | opts | grep -E -- '^--|^-f|^-m')
eval_opts=$("$nnc" eval --help | opts | grep -E -- '^--')
train_opts=$("$nnc" train "$src/tests/nn/dyn_mlp.nn" --help | opts | grep -E -- '^--')
for o in $main_opts $eval_opts $train_opts; do
  need option "$o" docs/nnc.1 "$page"
  need option "$o" completions/nnc.bash "$(cat "$comp")"
done
# --emit kinds: the names of cli_emit_kind's table (compiler/cli.c)
kinds=$(grep -o -E '\{"[a-z-]+", EMIT_' "$src/compiler/cli.c" | sed -E 's/.*"(.*)".*/\1/')
for k in $kinds; do
  need "--emit kind" "$k" docs/nnc.1 "$(grep -A1 -x -F '.TP' <<<"$page" | grep -x -F -e "$k" -e ".B $k")"
  need "--emit kind" "$k" completions/nnc.bash "$(grep '^_nnc_emit_kinds=' "$comp" | tr '" =' '\n\n\n')"
done
# the page's header names this version
version=$("$nnc" --version)
need "version (.TH line)" "\"$version\"" docs/nnc.1 "$(grep '^\.TH ' "$man")"
# the lists must not come out empty (a moved table or a new help layout
# would pass silently)
nk=$(wc -w <<<"$kinds") no=$(wc -w <<<"$main_opts $eval_opts $train_opts")
if [ "$nk" -lt 9 ] || [ "$no" -lt 30 ]; then
  echo "found only $nk --emit kinds and $no options: has the help or main.c changed shape?"
  exit 1
fi
if [ "$missing" -gt 0 ]; then
  echo "$missing of $n missing"
  exit 1
fi
echo "the man page and the completion know all $no options and $nk --emit kinds"
