#!/usr/bin/env bash
# check_readme.sh SRCDIR — each code block of README.md that follows a line
# `<!-- the file PATH ... -->` must be exactly the file PATH of the
# repository (the examples of "Use nnc from your project" are the files the
# install tests build). Fails naming the blocks that differ.
set -uo pipefail
src=$1
readme=$src/README.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# write each marked block to tmp/N, its path to tmp/N.path
awk -v dir="$tmp" '
  /^<!-- the file [^ ]+/ { n++; path = $4; print path > (dir "/" n ".path"); want = 1; next }
  want && /^```/ { want = 0; inblock = 1; printf "" > (dir "/" n); next }
  inblock && /^```$/ { inblock = 0; next }
  inblock { print > (dir "/" n) }
' "$readme"
n=0 bad=0
for p in "$tmp"/*.path; do
  [ -e "$p" ] || break
  n=$((n + 1))
  path=$(cat "$p")
  if ! diff -u "$src/$path" "${p%.path}" >"$tmp/diff"; then
    echo "README.md's copy of $path differs from the file:"
    cat "$tmp/diff"
    bad=1
  fi
done
[ "$n" -ge 2 ] || { echo "README.md has $n marked copies of files, expected at least 2"; exit 1; }
[ "$bad" = 0 ] && echo "README.md's $n copies of files are the files"
exit $bad
