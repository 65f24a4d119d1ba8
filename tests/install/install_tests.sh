#!/usr/bin/env bash
# install_tests.sh SRC BUILD WORK CASE — the install tests (tests/install.cmake),
# one ctest per CASE, all in WORK:
#   prefix      cmake --install BUILD --prefix WORK/prefix (the fixture of
#               the others): every file of the layout is there
#   cmake       the CMake consumer (tests/install/cmake/CMakeLists.txt with
#               samples/c_api/classify.c, saliency.c and their models):
#               find_package(nnc) + nnc_add_model configure, build and run;
#               touching fashion_mlp.nn re-runs nnc for it (not for the other)
#   make        the pkg-config consumer (tests/install/make/): builds with
#               plain Make against a moved copy of the prefix, and both
#               programs compute the right outputs; an installed nnc links
#               the runtime archive of its own prefix
#   man         man -l PREFIX/share/man/man1/nnc.1 renders without a warning,
#               and MANPATH=PREFIX/share/man man nnc finds it
#   completion  the installed bash completion sources in a plain bash,
#               registers _nnc for nnc and completes commands, options,
#               --emit kinds and .nn files
# A case whose tools (make, pkg-config, man) are missing exits 77: skipped.
# The programs are run only when Fashion-MNIST is installed (they say
# "Fashion-MNIST not found" otherwise); building them always happens.
set -euo pipefail
src=$1 build=$2 work=$3 case=$4
prefix=$work/prefix
fail() {
  echo "FAIL: $*"
  exit 1
}
need() { # need TOOL...: skip (exit 77) without them
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "$t is not installed: skipped"; exit 77; }
  done
}

case $case in
prefix)
  rm -rf "$work"
  mkdir -p "$work"
  cmake --install "$build" --prefix "$prefix" >"$work/install.log"
  for f in bin/nnc lib/nnc/libnnrt.a lib/cmake/nnc/nncConfig.cmake lib/cmake/nnc/nncConfigVersion.cmake \
    lib/pkgconfig/nnc.pc share/man/man1/nnc.1 share/bash-completion/completions/nnc \
    share/doc/nnc/README.md share/doc/nnc/api.md share/doc/nnc/language.md share/doc/nnc/img/fashion_mlp_grad.svg \
    share/vim/vimfiles/syntax/nn.vim share/vim/vimfiles/ftdetect/nn.vim share/nnc/editors/textmate/nn.tmLanguage.json \
    share/nnc/editors/vscode/package.json; do
    [ -e "$prefix/$f" ] || fail "cmake --install did not write $f"
  done
  # nothing of the build tree is needed at run time: nnc's runtime path
  # fallback is the only reference, checked by the make case
  "$prefix/bin/nnc" --version
  ;;

cmake)
  need make pkg-config
  proj=$work/cmake-src bld=$work/cmake-build
  rm -rf "$proj" "$bld"
  mkdir -p "$proj"
  cp "$src/tests/install/cmake/CMakeLists.txt" "$src/samples/c_api/classify.c" "$src/samples/c_api/saliency.c" \
    "$src/samples/c_api/idx.h" "$src/samples/fashion_mlp.nn" "$src/samples/fashion_robust.nn" "$proj/"
  cmake -S "$proj" -B "$bld" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$work/cmake-configure.log" ||
    { cat "$work/cmake-configure.log"; fail "configuring the consumer"; }
  cmake --build "$bld" -j 2 >"$work/cmake-build.log" 2>&1 || { cat "$work/cmake-build.log"; fail "building the consumer"; }
  grep -q "nnc: libfashion_mlp.so and fashion_mlp.h from fashion_mlp.nn" "$work/cmake-build.log" ||
    fail "nnc did not run for fashion_mlp"
  [ -x "$bld/classify" ] && [ -x "$bld/saliency" ] || fail "no programs"
  # the installed nnc, not the build tree's
  grep -q "$prefix/bin/nnc" "$bld/CMakeFiles/fashion_mlp_nnc.dir/build.make" ||
    fail "the consumer does not run the installed nnc"
  # a second build does nothing; touching one model re-runs nnc for it only
  cmake --build "$bld" -j 2 >"$work/cmake-rebuild.log" 2>&1
  if grep -q "nnc: lib" "$work/cmake-rebuild.log"; then fail "an up-to-date build ran nnc again"; fi
  sleep 1 # the file systems of some machines keep whole seconds
  touch "$proj/fashion_mlp.nn"
  cmake --build "$bld" -j 2 >"$work/cmake-touched.log" 2>&1
  grep -q "nnc: libfashion_mlp.so" "$work/cmake-touched.log" || { cat "$work/cmake-touched.log"; fail "touching fashion_mlp.nn did not re-run nnc"; }
  if grep -q "nnc: libfashion_robust.so" "$work/cmake-touched.log"; then fail "touching fashion_mlp.nn re-ran nnc for fashion_robust"; fi
  grep -q "Linking C executable classify" "$work/cmake-touched.log" || fail "classify was not relinked"
  data=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
  if [ ! -e "$data/t10k-images-idx3-ubyte.gz" ]; then
    echo "built classify and saliency; Fashion-MNIST not found in $data: not run"
    exit 0
  fi
  out=$(cd "$bld" && ./classify)
  head -3 <<<"$out"
  # OPTIONS reached nnc (-O3 in the build info; -D B=100 divides 10,000 images)
  grep -q "^library: nnc .*; -O3;" <<<"$out" || fail "classify's library was not built with -O3"
  grep -q "^accuracy: .* of 10000)" <<<"$out" || fail "classify printed no accuracy"
  (cd "$bld" && ./saliency saliency.svg) | tail -1
  [ "$(grep -c '<rect' "$bld/saliency.svg")" = 12545 ] || fail "saliency.svg does not have its 12,545 rects"
  ;;

make)
  need make pkg-config
  # from a copy of the prefix in another place: nnc.pc and nnc find their
  # files relative to themselves
  dir=$work/make moved=$work/moved-prefix
  rm -rf "$dir" "$moved"
  cp -a "$prefix" "$moved"
  cp -r "$src/tests/install/make" "$dir"
  PKG_CONFIG_PATH="$moved/lib/pkgconfig" make -C "$dir" >"$work/make.log" 2>&1 || { cat "$work/make.log"; fail "make"; }
  [ "$(PKG_CONFIG_PATH="$moved/lib/pkgconfig" pkg-config --variable=nnc nnc)" -ef "$moved/bin/nnc" ] ||
    fail "pkg-config --variable=nnc does not name the installed nnc"
  grep -q "^$moved/lib/pkgconfig/../../bin/nnc tiny.nn --emit=lib,obj" "$work/make.log" || fail "make did not run nnc"
  "$dir/tiny" >"$dir/shared.out" || { cat "$dir/shared.out"; fail "tiny (shared) computed wrong outputs"; }
  "$dir/tiny_static" >"$dir/static.out" || { cat "$dir/static.out"; fail "tiny_static computed wrong outputs"; }
  cat "$dir/shared.out"
  cmp "$dir/shared.out" "$dir/static.out" || fail "the shared and static programs differ"
  [ "$(grep -c '^y\[' "$dir/shared.out")" = 4 ] || fail "tiny printed no outputs"
  # the installed nnc links the archive beside it, not its build tree's: in
  # a prefix whose archive is not one, it cannot link
  fake=$work/fake-prefix
  rm -rf "$fake"
  mkdir -p "$fake/bin" "$fake/lib/nnc"
  cp "$moved/bin/nnc" "$fake/bin/"
  echo "not an archive" >"$fake/lib/nnc/libnnrt.a"
  if (cd "$dir" && env -u NNC_RUNTIME_LIB "$fake/bin/nnc" tiny.nn --emit=lib -o "$fake/libtiny.so") >"$work/fake.log" 2>&1; then
    fail "an nnc whose prefix has a broken runtime archive still linked (it found another one)"
  fi
  grep -q "linking .* failed" "$work/fake.log" || { cat "$work/fake.log"; fail "not a link failure"; }
  ;;

man)
  need man
  page=$prefix/share/man/man1/nnc.1
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>"$work/man.err") || fail "man -l failed"
  if [ -s "$work/man.err" ]; then
    cat "$work/man.err"
    fail "the man page renders with warnings"
  fi
  grep -q "^NAME" <<<"$out" || fail "no NAME section"
  grep -q -- "--max-tape-bytes=N" <<<"$out" || fail "the options are not rendered"
  where=$(MANPATH="$prefix/share/man" LC_ALL=C.UTF-8 man -w nnc) || fail "man -w nnc failed"
  grep -q "^$prefix/share/man/man1/nnc.1" <<<"$where" ||
    fail "MANPATH=PREFIX/share/man man nnc does not find the page"
  head -8 <<<"$out"
  ;;

completion)
  tdir=$work/completion
  rm -rf "$tdir"
  mkdir -p "$tdir/models"
  touch "$tdir/model_a.nn" "$tdir/notes.txt"
  cp "$src/samples/fashion_mlp.nn" "$tdir/"
  cd "$tdir"
  # t EXPECTED WORD...: completing the last WORD gives exactly EXPECTED
  bash --norc --noprofile -c '
    set -u
    source "$1" || exit 1
    [ "$(complete -p nnc)" = "complete -F _nnc nnc" ] || { echo "complete -p nnc: $(complete -p nnc)"; exit 1; }
    bad=0
    t() {
      local want=$1
      shift
      COMP_WORDS=("$@")
      COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
      _nnc
      local got
      got=$(printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " ")
      if [ "$got" != "$want " ]; then echo "completing [$*]: got [$got], want [$want ]"; bad=1; fi
    }
    t "check" nnc ch
    t "eval" nnc ev
    t "--stats" nnc --st
    t "--emit=" nnc --em
    t "grad-ir" nnc --emit = gr
    t "ir,lib ir,llvm-ir" nnc --emit = ir,l
    t "--emit=ir,obj" nnc --emit=ir,o
    t "always auto never" nnc --color =
    t "check eval fashion_mlp.nn model_a.nn models train" nnc ""
    t "fashion_mlp.nn" nnc check fa
    t "--epochs" nnc train fashion_mlp.nn --ep
    t "--f64 --fn" nnc eval fashion_mlp.nn --f
    t "forward loss" nnc eval fashion_mlp.nn --fn ""
    exit $bad
  ' bash "$prefix/share/bash-completion/completions/nnc" || fail "completion"
  echo "completion: ok"
  ;;

*)
  fail "unknown case $case"
  ;;
esac
