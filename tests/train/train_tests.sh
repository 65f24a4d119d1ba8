#!/usr/bin/env bash
# train_tests.sh NNC TOOL WORK TEST — end-to-end tests of the training
# programs (`nnc MODEL.nn --emit=exe`), one ctest per TEST (tests/train.cmake):
#
#   setup      builds small versions of the samples (-D) and the test data
#              in WORK: a text (always), subsets of Fashion-MNIST as IDX,
#              .npy and CSV (when it is installed)
#   mlp, cnn   [fm] a few hundred steps on 4000 images: the loss falls, accuracy > 60%
#   char       a character RNN on a small text: the validation loss falls below
#              the unigram baseline; text is generated, also from a checkpoint
#   bad_idx, bad_npy, bad_csv [fm], bad_text
#              malformed or mismatched files: exit 1, a message naming the
#              file and what was expected, nothing written
#   files      a FIFO, a device as --data, --test, --resume: refused at once,
#              naming the file
#   metadata   forged checkpoint metadata, a flipped data byte, NaN
#              parameters: refused naming the field (or the parameter);
#              a format-1 checkpoint (no checksum) still resumes
#   outputs    an output path that cannot be written, or that is another
#              output or an input: refused before training; a report that
#              fails mid-run loses no checkpoint
#   temporaries a save removes the temporaries that killed saves left
#   resume     [fm] SIGINT after a few steps: exit 130, a valid checkpoint, the
#              resume command, and resuming it gives the parameters of an
#              uninterrupted run bit for bit; the same after SIGKILL from the
#              last --checkpoint-every checkpoint, whose killed save's
#              temporary the resumed run removes
#   checkpoint [fm] a truncated or corrupted checkpoint is refused; --eval-only
#              reproduces the final accuracy, also at another batch size (the
#              padded last batch counts only its real rows)
#   nan        [fm] a huge learning rate: exit 1 naming the step, no checkpoint
#   cli        usage errors exit 2, --help shows the train block's defaults
#   jit        [fm] `nnc train MODEL.nn` trains in-process, and resumes
#   fromir     the training program built from the model's printed IR (nnc
#              MODEL.nn --emit=ir, then nnc MODEL.ir --emit=exe) has the
#              same LLVM IR but for the source's name and hash, and trains
#              to the same parameters bit for bit: the character RNN, and
#              [fm] the MLP when Fashion-MNIST is installed; nnc train on
#              the IR text trains as nnc train on the model
#
# The cases marked [fm] need Fashion-MNIST (/usr/share/datasets/fashion-mnist,
# installed by scripts/deps.sh): without it they exit 77, which ctest shows
# as skipped (tests/train.cmake: SKIP_RETURN_CODE). The others always run.
set -uo pipefail
nnc="$1"
tool="$2"
work="$3"
test="$4"
src="$(cd "$(dirname "$0")/../.." && pwd)"
fm="${NNC_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}" # another directory: for trying the skips
bin="$work/bin"
data="$work/data"
fail=0

have_fm() { [ -r "$fm/train-images-idx3-ubyte.gz" ] && [ -r "$fm/train-labels-idx1-ubyte.gz" ] &&
  [ -r "$fm/t10k-images-idx3-ubyte.gz" ] && [ -r "$fm/t10k-labels-idx1-ubyte.gz" ]; }
# need_fm: the case needs the Fashion-MNIST subsets that setup made
need_fm() {
  if ! have_fm || [ ! -s "$data/train_x.idx" ]; then
    echo "SKIPPED train/$test: Fashion-MNIST is not installed under $fm (scripts/deps.sh installs it)"
    exit 77
  fi
}

# run NAME STATUS CMD... — run CMD in the current directory, keep its output
# in $out/$err, check the exit status.
run() {
  local name="$1" want="$2"
  shift 2
  "$@" >out.txt 2>err.txt
  local got=$?
  out="$(cat out.txt)"
  err="$(cat err.txt)"
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit status $got, expected $want ($*)"
    echo "  stdout: $(tail -c 600 out.txt)"
    echo "  stderr: $(tail -c 600 err.txt)"
    fail=$((fail + 1))
    return 1
  fi
}
has() {
  if ! grep -q -E -- "$3" <<<"$2"; then
    echo "FAIL $1: expected /$3/ in: $(head -c 600 <<<"$2")"
    fail=$((fail + 1))
  fi
}
check() { # check NAME CONDITION-COMMAND...
  local name="$1"
  shift
  if ! "$@"; then
    echo "FAIL $name: $*"
    fail=$((fail + 1))
  fi
}
# fresh NAME: an empty directory for one test, made current
fresh() {
  rm -rf "$work/$1"
  mkdir -p "$work/$1"
  cd "$work/$1" || exit 1
}
# nothing_written NAME: no checkpoint, metrics, plot or temporary file here
nothing_written() {
  local extra
  extra="$(ls -A | grep -v -E '^(out|err)\.txt$|^in_' || true)"
  if [ -n "$extra" ]; then
    echo "FAIL $1: files were written: $extra"
    fail=$((fail + 1))
  fi
}
# refuse NAME PATTERN PROGRAM ARGS... — must exit 1 naming PATTERN, writing nothing
refuse() {
  local name="$1" pat="$2"
  shift 2
  rm -f out.txt err.txt
  run "$name" 1 "$@" --checkpoint c.st --metrics m.csv --plot p.svg --progress none && has "$name" "$err" "$pat"
  nothing_written "$name"
}
# num TEXT REGEX: the first number captured by the regex's group 1
num() { sed -n -E "s/.*$2.*/\\1/p" <<<"$1" | head -1; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

# when_line PATTERN ACTION CMD... — run CMD with its stderr through a pipe;
# as soon as a line of it matches PATTERN, run ACTION PID (ACTION is split
# into words). Sets $rc; stdout goes to out.txt, stderr to err.txt. (Reading
# the pipe reacts within the step that printed the line; polling a file
# lagged a hundred steps on a loaded machine.)
# signal_when SIG PATTERN CMD... — the same, sending SIG.
signal_when() {
  local sig="$1"
  shift
  when_line "$1" "kill -$sig" "${@:2}"
}
when_line() {
  local pat="$1" action="$2" line
  shift 2
  rm -f pipe.fifo
  mkfifo pipe.fifo
  "$@" >out.txt 2>pipe.fifo &
  local pid=$!
  exec 3<pipe.fifo
  : >err.txt
  while IFS= read -r line <&3; do
    printf '%s\n' "$line" >>err.txt
    if grep -q -E -- "$pat" <<<"$line"; then
      $action $pid
      break
    fi
  done
  cat <&3 >>err.txt
  exec 3<&-
  wait $pid
  rc=$?
  rm -f pipe.fifo
}

train_data=(--data "$data/train_x.idx,$data/train_y.idx" --test "$data/test_x.idx,$data/test_y.idx")

case "$test" in
setup)
  rm -rf "$work"
  mkdir -p "$bin" "$data"
  cd "$work" || exit 1
  (
    "$nnc" "$src/samples/fashion_mlp.nn" -D B=32 -D H=64 --emit=exe -o "$bin/mlp" &&
      "$nnc" "$src/samples/fashion_mlp.nn" -D B=40 -D H=64 --emit=exe -o "$bin/mlp_b40" &&
      "$nnc" "$src/tests/train/mlp_npy.nn" --emit=exe -o "$bin/mlp_npy" &&
      "$nnc" "$src/tests/train/mlp_csv.nn" --emit=exe -o "$bin/mlp_csv"
  ) &
  p1=$!
  "$nnc" "$src/samples/fashion_cnn.nn" -D B=32 -D C1=8 -D C2=16 -D HID=32 --emit=exe -o "$bin/cnn" &&
    "$nnc" "$src/samples/char_rnn.nn" -D B=16 -D T=32 -D H=64 --emit=exe -o "$bin/rnn" &&
    "$nnc" "$src/samples/char_rnn.nn" -D B=16 -D T=32 -D H=64 -D V=20 --emit=exe -o "$bin/rnn_v20" || fail=1
  wait $p1 || fail=1
  t="$tool"
  if ! have_fm; then
    echo "setup: Fashion-MNIST is not installed under $fm: the cases that need it will be skipped"
  elif ! {
    $t idx-head "$fm/train-images-idx3-ubyte.gz" "$data/train_x.idx" 4000 &&
    $t idx-head "$fm/train-labels-idx1-ubyte.gz" "$data/train_y.idx" 4000 &&
    $t idx-head "$fm/t10k-images-idx3-ubyte.gz" "$data/test_x.idx" 1000 &&
    $t idx-head "$fm/t10k-labels-idx1-ubyte.gz" "$data/test_y.idx" 1000 &&
    $t npy-head "$data/train_x.idx" "$data/train_x.npy" 2000 f32 &&
    $t npy-head "$data/train_y.idx" "$data/train_y.npy" 2000 i64 &&
    $t npy-head "$data/test_x.idx" "$data/test_x.npy" 500 u8 &&
    $t npy-head "$data/test_y.idx" "$data/test_y.npy" 500 u8 &&
    $t csv-head "$data/train_x.idx" "$data/train_y.idx" "$data/train.csv" 1000 &&
    $t csv-head "$data/test_x.idx" "$data/test_y.idx" "$data/test.csv" 300
  }; then
    fail=1
  fi
  # a text: English from the fortunes when installed, else this project's docs
  if [ -r /usr/share/games/fortunes/cookie ]; then
    head -c 60000 /usr/share/games/fortunes/cookie >"$data/text.txt"
  else
    head -c 60000 "$src/docs/language.md" >"$data/text.txt"
  fi
  ;;

fromir)
  # fromir NAME MODEL.nn DEFINES -- TRAINING FLAGS
  fromir() {
    local name="$1" model="$2" defs=() flags
    shift 2
    while [ "$1" != -- ]; do defs+=("$1"); shift; done
    shift
    "$nnc" "$model" "${defs[@]}" --emit=ir -o "$name.ir" && "$nnc" "$name.ir" --emit=ir -o "$name.2.ir" &&
      "$nnc" "$model" "${defs[@]}" --emit=exe -o "$name.nn.exe" && "$nnc" "$name.ir" --emit=exe -o "$name.ir.exe" &&
      "$nnc" "$model" "${defs[@]}" --emit=llvm-ir -o "$name.nn.ll" && "$nnc" "$name.ir" --emit=llvm-ir -o "$name.ir.ll" ||
      { echo "FAIL $test: building $name from its IR"; fail=$((fail + 1)); return; }
    check "$test: $name.ir reads back to itself" cmp -s <(tail -n +2 "$name.ir") "$name.2.ir"
    check "$test: $name: the same LLVM IR but for the source" cmp -s <(grep -v 'fnv1a64:' "$name.nn.ll") <(grep -v 'fnv1a64:' "$name.ir.ll")
    run "$test" 0 "./$name.nn.exe" "$@" --threads 1 --progress none --checkpoint nn.st &&
      run "$test" 0 "./$name.ir.exe" "$@" --threads 1 --progress none --checkpoint ir.st &&
      check "$test: $name: the same parameters after training" "$tool" ckpt-cmp nn.st ir.st
  }
  fresh "$test"
  fromir rnn "$src/samples/char_rnn.nn" -D B=16 -D T=32 -D H=64 -- --data "$data/text.txt" --epochs 1 --limit 8000
  # nnc train on the IR text: the same as on the model
  flags=(--data "$data/text.txt" --epochs 1 --limit 4000 --threads 1 --progress none)
  run "$test" 0 "$nnc" train "$src/samples/char_rnn.nn" -D B=16 -D T=32 -D H=64 "${flags[@]}" --checkpoint jit_nn.st &&
    run "$test" 0 "$nnc" train rnn.ir "${flags[@]}" &&
    check "$test: nnc train rnn.ir names its checkpoint after the file" test -s rnn.ckpt.safetensors &&
    check "$test: nnc train rnn.ir: the same parameters as nnc train char_rnn.nn" "$tool" ckpt-cmp jit_nn.st rnn.ckpt.safetensors
  run "$test: -D on IR text" 1 "$nnc" train rnn.ir -D H=3 &&
    has "$test: -D on IR text" "$err" "^rnn.ir: error: -D does not apply to IR text"
  if have_fm && [ -s "$data/train_x.idx" ]; then
    fromir mlp "$src/samples/fashion_mlp.nn" -D B=32 -D H=64 -- "${train_data[@]}" --epochs 1 --limit 1600
  else
    echo "fromir: Fashion-MNIST is not installed under $fm: only the character model"
  fi
  ;;

robust)
  # the gradient-penalty sample trains through a gradient (double
  # backpropagation) and its predict function attacks each test image
  # (FGSM, eps 0.05) before classifying it: on a small subset the attacked
  # accuracy is far above chance, and above the same network trained
  # without the penalty (LAMBDA = 0)
  need_fm
  fresh "$test"
  "$nnc" "$src/samples/fashion_robust.nn" --emit=exe -o robust && "$nnc" "$src/samples/fashion_robust.nn" -D LAMBDA=0 \
    --emit=exe -o plain || fail=$((fail + 1))
  if run "$test" 0 ./robust "${train_data[@]}" --epochs 2 --limit 6400 --progress none; then
    r="$(num "$(grep '^done' <<<"$out")" 'accuracy ([0-9.]+)%')"
    run "$test" 0 ./plain "${train_data[@]}" --epochs 2 --limit 6400 --progress none
    p="$(num "$(grep '^done' <<<"$out")" 'accuracy ([0-9.]+)%')"
    check "$test: accuracy under attack $r% > 40%" gt "$r" 40
    check "$test: with the penalty $r% > without $p%" gt "$r" "$p"
  fi
  ;;

pinn)
  # the physics-informed sample: a loss holding the network's second
  # derivative in its input, trained by the training program; the trained
  # network is within 1% of the exact solution's peak (0.44) everywhere
  fresh "$test"
  "$nnc" "$src/samples/pinn.nn" --emit=exe -o pinn || fail=$((fail + 1))
  if run "$test" 0 ./pinn --data "$src/samples/pinn_points.csv" --progress none --checkpoint p.st; then
    first="$(num "$out" 'epoch 1.40: train loss ([0-9.]+)')"
    last="$(num "$out" 'epoch 40.40: train loss ([0-9.]+)')"
    check "$test: the loss falls from $first to $last (< 5%)" gt "$(awk -v a="$first" 'BEGIN { print 0.05 * a }')" "$last"
    if run "$test" 0 "$nnc" eval "$src/samples/pinn.nn" --fn max_error --params p.st -o e.st; then
      e="$(num "$out" '^output = ([0-9.e+-]+)')"
      check "$test: max error $e against the exact solution < 0.0044" gt 0.0044 "$e"
    fi
  fi
  ;;

dynbatch)
  # the samples with a run-time batch (dim B <= 96 with -D B=96) train on
  # full batches exactly as their static twins (const B = 96) do: the same
  # parameters and optimizer state byte for byte; the last partial test
  # batch (1000 = 10 x 96 + 40) is evaluated at its real size, without
  # padding or a second call, and measures exactly what the twin measures
  # (fashion_robust: under attack, and its loss scales by f32(B), the
  # run-time size)
  need_fm
  fresh "$test"
  for sample in fashion_mlp fashion_robust; do
    sed 's/^dim B <= [0-9]*/const B = 96/' "$src/samples/$sample.nn" >static.nn
    check "$test: $sample's batch line" grep -q '^const B = 96' static.nn
    "$nnc" "$src/samples/$sample.nn" -D B=96 -D H=64 --emit=exe -o dyn && "$nnc" static.nn -D H=64 --emit=exe -o st ||
      fail=$((fail + 1))
    if run "$test" 0 ./dyn "${train_data[@]}" --epochs 1 --limit 1920 --progress none --checkpoint dyn.st; then
      d="$(grep '^done' <<<"$out" | sed 's/ in [^;]*;//')"
      run "$test" 0 ./st "${train_data[@]}" --epochs 1 --limit 1920 --progress none --checkpoint st.st
      s="$(grep '^done' <<<"$out" | sed 's/ in [^;]*;//')"
      has "$test: $sample: test loss and accuracy" "$d" 'test loss [0-9.]+, accuracy'
      check "$test: $sample: the same as the static build ($d / $s)" test "$d" = "$s"
      check "$test: $sample: the same parameters and optimizer state as the static build" \
        "$tool" ckpt-cmp dyn.st st.st
    fi
  done
  ;;

dynchar)
  # the character samples with a run-time batch (dim B <= 16 with -D B=16)
  # train exactly as their static twins (const B = 16): the same parameters
  # and optimizer state byte for byte, the same training losses and the
  # same generated text. Their [n, T, K] @ W products are GEMMs of n*T rows,
  # and the recurrent weights' gradients one product over tapes padded to
  # the bound (docs/ir.md). The last partial validation batch (24 windows =
  # 16 + 8) runs at its real size, the twin's is padded and recovered: the
  # same validation loss within rounding (1e-5 relative)
  fresh "$test"
  for sample in char_rnn char_lstm tiny_gpt; do
    sed 's/^dim B <= [0-9]*/const B = 16/' "$src/samples/$sample.nn" >static.nn
    check "$test: $sample's batch line" grep -q '^const B = 16' static.nn
    sizes=(-D T=32 -D H=64)
    [ "$sample" = tiny_gpt ] && sizes=(-D T=32 -D D=32)
    "$nnc" "$src/samples/$sample.nn" -D B=16 "${sizes[@]}" --emit=exe -o dyn &&
      "$nnc" static.nn "${sizes[@]}" --emit=exe -o st || fail=$((fail + 1))
    flags=(--data "$data/text.txt" --epochs 1 --limit 8000 --threads 1 --progress none --generate 40)
    # the report without times, file names and the validation loss's digits
    report() { sed -E 's/ in [^;]*;//; s/validation loss [0-9.]+ \([0-9.]+ bits/validation loss/' <<<"$out" | grep -v -E '^(epoch|checkpoint)'; }
    if run "$test" 0 ./dyn "${flags[@]}" --checkpoint dyn.st --metrics dyn.csv; then
      d="$(report)"
      run "$test" 0 ./st "${flags[@]}" --checkpoint st.st --metrics st.csv
      s="$(report)"
      has "$test: $sample: a report" "$d" '^done: 1 epoch .*validation loss'
      check "$test: $sample: the same report and text as the static build" test "$d" = "$s"
      check "$test: $sample: the same parameters and optimizer state as the static build" \
        "$tool" ckpt-cmp dyn.st st.st
      check "$test: $sample: the same training losses" cmp -s <(cut -d, -f1-3 dyn.csv) <(cut -d, -f1-3 st.csv)
      vd="$(tail -1 dyn.csv | cut -d, -f4)" vs="$(tail -1 st.csv | cut -d, -f4)"
      check "$test: $sample: validation loss $vd, the static build's $vs" \
        awk -v a="$vd" -v b="$vs" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-5 * b) }'
    fi
  done
  ;;

mlp | cnn)
  need_fm
  fresh "$test"
  if run "$test" 0 "$bin/$test" "${train_data[@]}" --epochs 3 --limit 3200 --metrics m.csv --plot p.svg \
    --progress line --checkpoint c.st; then
    acc="$(num "$(grep '^done' <<<"$out")" 'accuracy ([0-9.]+)%')"
    check "$test: accuracy $acc% > 60%" gt "$acc" 60
    first="$(awk -F, 'NR == 2 { print $3 }' m.csv)"
    last="$(awk -F, '$4 != "" { l = $3 } END { print l }' m.csv)"
    check "$test: train loss falls from $first to $last (< 60%)" gt "$(awk -v a="$first" 'BEGIN { print 0.6 * a }')" "$last"
    check "$test: 3 epoch rows in the metrics" test "$(awk -F, 'NR > 1 && $4 != ""' m.csv | wc -l)" = 3
    check "$test: periodic rows in the metrics" test "$(awk -F, 'NR > 1 && $4 == ""' m.csv | wc -l)" -ge 20
    has "$test: progress lines" "$err" '^epoch 1/3  step 10/100  loss [0-9.]+  [0-9]+ samples/s  ETA'
    has "$test: plot" "$(cat p.svg)" '<polyline'
    if command -v xmllint >/dev/null; then check "$test: the plot is well-formed XML" xmllint --noout p.svg; fi
    check "$test: a checkpoint" test -s c.st
  fi
  ;;

char)
  fresh char
  if run char 0 "$bin/rnn" --data "$data/text.txt" --epochs 3 --generate 200 --progress none --checkpoint c.st \
    --metrics m.csv; then
    first="$(num "$(grep '^epoch 1/3' <<<"$out")" 'validation loss ([0-9.]+)')"
    last="$(num "$(grep '^epoch 3/3' <<<"$out")" 'validation loss ([0-9.]+)')"
    bits="$(num "$(grep '^epoch 3/3' <<<"$out")" '\(([0-9.]+) bits/char')"
    base="$(num "$(grep '^epoch 3/3' <<<"$out")" 'unigram baseline ([0-9.]+)')"
    check "char: validation loss falls ($first -> $last)" gt "$first" "$last"
    check "char: $bits bits/char below the unigram baseline $base" gt "$base" "$bits"
    sample="$(sed -n '/^--- 200 characters/,$p' <<<"$out" | tail -n +2)"
    check "char: 200 characters generated" test "$(printf '%s' "$sample" | wc -c)" -ge 200
    check "char: the vocabulary is in the checkpoint" "$tool" ckpt-meta c.st vocab
    run char-generate 0 "$bin/rnn" --data "$data/text.txt" --resume c.st --eval-only --generate 40 \
      --prompt "The " --temperature 0.5 &&
      has char-generate "$out" "bits/char" && has char-generate "$out" '^The .{40}'
  fi
  ;;

bad_idx)
  need_fm
  fresh bad_idx
  d="$data"
  printf 'this is not an IDX file at all' >in_magic.idx
  head -c 5000 "$d/train_x.idx" >in_trunc.idx
  gzip -c "$d/train_x.idx" | head -c 3000 >in_trunc.idx.gz
  "$tool" idx-head "$d/train_y.idx" in_y3999.idx 3999
  cp "$d/train_y.idx" in_range.idx && printf '\x0c' | dd of=in_range.idx bs=1 seek=13 conv=notrunc 2>/dev/null
  "$tool" idx-zeros in_rgb.idx 100 28 28 3
  "$tool" idx-head "$d/train_y.idx" in_y100.idx 100
  y="$d/train_y.idx"
  refuse "idx magic" 'in_magic.idx: not an IDX file: expected the magic' "$bin/mlp" --data "in_magic.idx,$y"
  refuse "idx truncated" 'in_trunc.idx: .*truncated' "$bin/mlp" --data "in_trunc.idx,$y"
  refuse "idx.gz truncated" 'in_trunc.idx.gz: .*truncated' "$bin/mlp" --data "in_trunc.idx.gz,$y"
  refuse "idx count" 'train_x.idx has 4000 samples but .*in_y3999.idx has 3999 labels' "$bin/mlp" --data "$d/train_x.idx,in_y3999.idx"
  refuse "idx label range" 'in_range.idx: label 12 at index 5 is out of range; expected 0..9 \(10 classes\)' \
    "$bin/mlp" --data "$d/train_x.idx,in_range.idx"
  refuse "idx shape" 'in_rgb.idx: expected 784 values per sample \(f32\[32,784\] without the batch axis\), found 28x28x3' \
    "$bin/mlp" --data "in_rgb.idx,in_y100.idx"
  refuse "idx labels as images" 'train_y.idx: expected 784 values per sample .*found 1' "$bin/mlp" --data "$y,$y"
  refuse "idx bad test file" 'in_magic.idx: not an IDX file' "$bin/mlp" --data "$d/train_x.idx,$y" \
    --test "in_magic.idx,$d/test_y.idx"
  refuse "idx missing" '/nonexistent/x.idx: cannot open' "$bin/mlp" --data "/nonexistent/x.idx,$y"
  refuse "idx the CNN's shape" 'in_rgb.idx: expected 784 values per sample \(f32\[32,1,28,28\]' \
    "$bin/cnn" --data "in_rgb.idx,in_y100.idx"
  ;;

bad_npy)
  need_fm
  fresh bad_npy
  d="$data"
  printf 'not a numpy file' >in_magic.npy
  head -c 1000 "$d/train_x.npy" >in_trunc.npy
  "$tool" npy-head "$d/train_y.idx" in_y1999.npy 1999 i64
  "$tool" npy-head "$d/train_y.idx" in_range.npy 2000 i64 3
  refuse "npy magic" 'in_magic.npy: .*magic' "$bin/mlp_npy" --data "in_magic.npy,$d/train_y.npy"
  refuse "npy truncated" 'in_trunc.npy: .*(truncated|data)' "$bin/mlp_npy" --data "in_trunc.npy,$d/train_y.npy"
  refuse "npy count" 'train_x.npy has 2000 samples but .*in_y1999.npy has 1999 labels' \
    "$bin/mlp_npy" --data "$d/train_x.npy,in_y1999.npy"
  refuse "npy label range" 'in_range.npy: label (1[0-9]|2[0-7]) at index [0-9]+ is out of range; expected 0..9' \
    "$bin/mlp_npy" --data "$d/train_x.npy,in_range.npy"
  refuse "npy shape" 'train_y.npy: expected 784 values per sample \(f32\[32,784\] without the batch axis\), found 1' \
    "$bin/mlp_npy" --data "$d/train_y.npy,$d/train_y.npy"
  run "npy ok" 0 "$bin/mlp_npy" --data "$d/train_x.npy,$d/train_y.npy" --test "$d/test_x.npy,$d/test_y.npy" \
    --progress none --epochs 2 && has "npy ok" "$out" 'accuracy [6-9][0-9]\.'
  ;;

bad_csv)
  need_fm
  fresh bad_csv
  d="$data"
  sed '4s/^[0-9]*,/abc,/' "$d/train.csv" >in_field.csv
  printf '1,2,3,4,5,6,7,8,9,10,1\n2,3,4,5,6,7,8,9,10,11,2\n' >in_cols.csv
  sed '4s/,[0-9]*$/,12/' "$d/train.csv" >in_range.csv # line 4: the third sample
  : >in_empty.csv
  refuse "csv field" 'in_field.csv:4:1: .*abc' "$bin/mlp_csv" --data in_field.csv
  refuse "csv columns" 'in_cols.csv: expected 784 values per sample \(f32\[32,784\] without the batch axis\), found 10' \
    "$bin/mlp_csv" --data in_cols.csv
  refuse "csv label range" 'in_range.csv: label 12 at index 2 is out of range; expected 0..9' "$bin/mlp_csv" --data in_range.csv
  refuse "csv empty" 'in_empty.csv' "$bin/mlp_csv" --data in_empty.csv
  run "csv ok" 0 "$bin/mlp_csv" --data "$d/train.csv" --test "$d/test.csv" --progress none --epochs 3 &&
    has "csv ok" "$out" 'accuracy [5-9][0-9]\.'
  ;;

bad_text)
  fresh bad_text
  printf '\x80\x81\x82\x01\x02\x03' >in_binary.txt
  printf 'some text\x00with a NUL byte, long enough for a window of thirty-two characters' >in_nul.txt
  printf 'too short' >in_short.txt
  refuse "text missing" '/nonexistent/text: cannot open' "$bin/rnn" --data /nonexistent/text
  refuse "text no printable" 'in_binary.txt: no text: expected printable ASCII' "$bin/rnn" --data in_binary.txt
  refuse "text NUL" 'in_nul.txt: contains NUL bytes; expected text' "$bin/rnn" --data in_nul.txt
  refuse "text short" 'in_short.txt.*characters; expected at least 33' "$bin/rnn" --data in_short.txt
  refuse "text vocabulary" 'text.txt: [0-9]+ distinct characters; expected at most 20 \(the model.s vocabulary size V\)' \
    "$bin/rnn_v20" --data "$data/text.txt"
  mkdir in_dir && printf 'abc\x00' >in_dir/binary && ln -s ../in_nul.txt in_dir/link
  refuse "text directory without text" 'in_dir: no text' "$bin/rnn" --data in_dir
  ;;

files)
  # what is not a regular file is refused at once, naming it: a FIFO without
  # a writer used to block in open() forever (timeout turns that into a
  # failure), /dev/zero was read up to the 1 GB limit
  fresh files
  mkfifo in_fifo
  p='in_fifo: cannot read a named pipe \(FIFO\); expected a regular file'
  refuse "fifo text" "$p" timeout 20 "$bin/rnn" --data in_fifo
  refuse "fifo test text" "$p" timeout 20 "$bin/rnn" --data "$data/text.txt" --test in_fifo
  refuse "fifo checkpoint" "cannot resume: $p" timeout 20 "$bin/rnn" --data "$data/text.txt" --resume in_fifo
  refuse "fifo eval-only" "cannot resume: $p" timeout 20 "$bin/rnn" --data "$data/text.txt" --resume in_fifo --eval-only
  refuse "fifo csv" "$p" timeout 20 "$bin/mlp_csv" --data in_fifo
  refuse "fifo idx" "$p" timeout 20 "$bin/mlp" --data in_fifo,in_fifo
  refuse "fifo npy" "$p" timeout 20 "$bin/mlp_npy" --data in_fifo,in_fifo
  refuse "device text" '/dev/zero: cannot read a character device; expected a regular file' \
    timeout 20 "$bin/rnn" --data /dev/zero
  refuse "device checkpoint" '/dev/null: cannot read a character device' \
    timeout 20 "$bin/rnn" --data "$data/text.txt" --resume /dev/null
  ;;

temporaries)
  # a save removes the temporaries that processes killed while saving the
  # same file left behind (PATH.tmp.PID of a PID that no longer exists);
  # those of live processes and of other files stay
  fresh temporaries
  dead="$(sh -c 'echo $$')"
  for f in c.st m.csv p.svg; do printf 'stale' >"$f.tmp.$dead"; done
  printf 'live' >in_live && mv in_live c.st.tmp.1 # init is always alive
  printf 'other' >d.st.tmp."$dead"
  run "stale temporaries" 0 "$bin/rnn" --data "$data/text.txt" --limit 3000 --epochs 1 --generate 0 --progress none \
    --checkpoint c.st --metrics m.csv --plot p.svg
  check "stale temporaries removed" test -z "$(ls ./*.tmp."$dead" 2>/dev/null | grep -v '^./d.st')"
  check "a live process's temporary kept" test -s c.st.tmp.1
  check "another file's temporary kept" test -s d.st.tmp."$dead"
  check "the checkpoint written" test -s c.st
  ;;

outputs)
  # every output path is checked before anything is read or trained (before:
  # a --metrics or --plot path that could not be written was found after the
  # first epoch, and that failure skipped the epoch's checkpoint); no output
  # may be another output or an input
  fresh outputs
  head -c 3000 "$data/text.txt" >in_text.txt
  t=(--data in_text.txt --epochs 1 --generate 0 --progress none)
  mkfifo in_fifo
  mkdir in_dir
  run "outputs: a checkpoint to resume" 0 "$bin/rnn" "${t[@]}" --checkpoint in_r.st
  bad_out() { # NAME PATTERN FLAGS...: exit 1 before training, naming the flag; nothing written
    local name="outputs: $1" pat="$2"
    shift 2
    run "$name" 1 "$bin/rnn" "${t[@]}" "$@" && has "$name" "$err" "$pat" &&
      check "$name: before training" test -z "$out"
    nothing_written "$name"
    check "$name: the inputs intact" cmp -s in_text.txt <(head -c 3000 "$data/text.txt")
    check "$name: the fifo intact" test -p in_fifo
  }
  bad_out "metrics in a missing directory" "error: --metrics: no-dir/m.csv: cannot create the temporary file" \
    --checkpoint c.st --metrics no-dir/m.csv
  bad_out "plot in a missing directory" "error: --plot: no-dir/p.svg: cannot create" --checkpoint c.st --plot no-dir/p.svg
  bad_out "checkpoint in a missing directory" "error: --checkpoint: no-dir/c.st: cannot create" --checkpoint no-dir/c.st
  bad_out "metrics a directory" "error: --metrics: in_dir: is a directory; expected a regular file" \
    --checkpoint c.st --metrics in_dir
  bad_out "plot a FIFO" "error: --plot: in_fifo: is a named pipe \(FIFO\)" --checkpoint c.st --plot in_fifo
  bad_out "checkpoint a FIFO" "error: --checkpoint: in_fifo: is a named pipe" --checkpoint in_fifo
  bad_out "metrics and plot one file" "error: --metrics x.csv and --plot ./x.csv are the same file" \
    --checkpoint c.st --metrics x.csv --plot ./x.csv
  bad_out "metrics the checkpoint" "error: --checkpoint c.st and --metrics c.st are the same file" \
    --checkpoint c.st --metrics c.st
  bad_out "metrics the data" "error: --metrics ./in_text.txt would overwrite --data in_text.txt" \
    --checkpoint c.st --metrics ./in_text.txt
  bad_out "plot the checkpoint resumed" "error: --plot in_r.st would overwrite --resume in_r.st" \
    --checkpoint c.st --resume in_r.st --epochs 2 --plot in_r.st
  # the checkpoint may be the one resumed
  run "outputs: resume into the same checkpoint" 0 "$bin/rnn" "${t[@]}" --resume in_r.st --checkpoint in_r.st --epochs 2 &&
    check "outputs: the checkpoint advanced" test "$("$tool" ckpt-meta in_r.st epoch)" = 2
  # a report that fails mid-run (its path became a directory) loses no
  # checkpoint: the epoch's checkpoint is written first, and the program
  # says so, with the command that resumes
  block_metrics() { kill -STOP "$1"; rm -f m.csv; mkdir m.csv; kill -CONT "$1"; }
  head -c 30000 "$data/text.txt" >in_text.txt
  when_line 'step' block_metrics "$bin/rnn" --data in_text.txt --epochs 3 --generate 0 --progress line \
    --checkpoint c.st --metrics m.csv
  err="$(cat err.txt)"
  check "outputs: a report failing mid-run: exit 1" test "$rc" = 1
  has "outputs: a report failing mid-run" "$err" "error: writing the metrics: m.csv: is a directory"
  has "outputs: a report failing mid-run" "$err" "the checkpoint of epoch [0-9] is written to c.st; resume with:"
  e="$(num "$err" 'checkpoint of epoch ([0-9]) is written')"
  check "outputs: the failing epoch's checkpoint" test -n "$e" -a "$("$tool" ckpt-meta c.st epoch 2>&1)" = "$e"
  check "outputs: ... with its evaluation" test "$("$tool" ckpt-meta c.st pending_eval 2>&1)" = 0
  ;;

metadata)
  # every field of a checkpoint's metadata is checked before anything is
  # trained: a forged value is refused naming the field (before: a run
  # resumed at epoch -1, Adam's step wrapped, "done: 999999999 epochs"); a
  # flipped data byte fails the checksum
  fresh metadata
  t=(--data "$data/text.txt" --limit 3000 --generate 0)
  run "metadata: train" 0 "$bin/rnn" "${t[@]}" --epochs 2 --progress none --checkpoint in_good.st
  forged() { # forged NAME KEY VALUE PATTERN [FLAGS...]: exit 1 naming the field, nothing written
    local name="$1" key="$2" val="$3" pat="$4"
    shift 4
    "$tool" ckpt-set in_good.st in_forged.st "$key" "$val"
    refuse "metadata: $name" "cannot resume: in_forged.st: $pat" "$bin/rnn" "${t[@]}" --epochs 3 --resume in_forged.st "$@"
  }
  forged "negative step" step -1 "metadata 'step': expected an integer 0\.\.2147483646, found '-1'"
  forged "step not a number" step abc "metadata 'step'"
  forged "huge step" step 99999999999 "metadata 'step'"
  forged "step off the position" step 9 "step 9 is not epoch 2 \+ 0 steps of 5"
  forged "negative epoch" epoch -1 "metadata 'epoch'"
  forged "huge epoch" epoch 999999999 "step 10 is not epoch 999999999 \+ 0 steps of 5"
  forged "epoch_step" epoch_step 999 "step 10 is not epoch 2 \+ 999 steps of 5"
  forged "pending_eval" pending_eval 2 "metadata 'pending_eval'"
  forged "batch" batch 0 "metadata 'batch'"
  forged "epochs" epochs 0 "metadata 'epochs'"
  forged "epochs below epoch" epochs 1 "metadata 'epoch' is 2, past 'epochs' 1"
  forged "a count" epoch_loss_count -3 "metadata 'epoch_loss_count'"
  forged "a count off" epoch_loss_count 4 "metadata 'epoch_loss_count' is 4; expected 0"
  forged "elapsed" elapsed nan "metadata 'elapsed'"
  forged "a loss sum" epoch_loss_sum inf "metadata 'epoch_loss_sum'"
  forged "history" history junk "metadata 'history'"
  forged "seed" seed -1 "metadata 'seed'"
  forged "fingerprint" data_fingerprint xyz "metadata 'data_fingerprint'"
  forged "checksum" data_crc32 00000000 "corrupted: the tensor data has CRC-32"
  forged "format" format nnc-checkpoint-7 "metadata 'format'"
  forged "vocab" vocab zz "metadata 'vocab': vocabulary string"
  forged "step, evaluating" step -1 "metadata 'step'" --eval-only
  # the vocabulary comes from the checkpoint: its errors name the checkpoint
  refuse "metadata: the checkpoint's vocab does not fit V" \
    "error: in_good.st: metadata 'vocab' has [0-9]+ characters; expected at most 20" \
    "$bin/rnn_v20" --data "$data/text.txt" --limit 3000 --resume in_good.st
  "$tool" ckpt-set in_good.st in_abc.st vocab 0a6162 # newline, a, b
  refuse "metadata: the text has a character outside the checkpoint's vocab" \
    "error: $data/text.txt: character '\"' at offset 0 is not in the vocabulary of 3 characters the model was trained with \(metadata 'vocab' of in_abc.st\)" \
    "$bin/rnn" "${t[@]}" --epochs 3 --resume in_abc.st
  # one flipped byte in the tensor data
  cp in_good.st in_flip.st
  size=$(stat -c %s in_flip.st)
  printf '\x5a' | dd of=in_flip.st bs=1 seek=$((size - 10)) conv=notrunc 2>/dev/null
  refuse "metadata: a flipped data byte" "cannot resume: in_flip.st: corrupted: the tensor data has CRC-32" \
    "$bin/rnn" "${t[@]}" --epochs 3 --resume in_flip.st
  refuse "metadata: a flipped data byte, evaluating" "in_flip.st: corrupted" \
    "$bin/rnn" "${t[@]}" --resume in_flip.st --eval-only
  # a checkpoint of format 1 (no checksum, written before there was one) still resumes
  "$tool" ckpt-set in_good.st in_v1a.st data_crc32 && "$tool" ckpt-set in_v1a.st in_v1.st format nnc-checkpoint-1
  run "metadata: format 1 resumes" 0 "$bin/rnn" "${t[@]}" --epochs 3 --resume in_v1.st --progress none --checkpoint v1.st &&
    has "metadata: format 1 resumes" "$out" '^done: 3 epochs \(15 steps\)'
  rm -f v1.st
  # a finished run: nothing to do unless --epochs goes further (before: it
  # printed "checkpoint: c.st", a file it never wrote, and exited 0)
  for e in 2 1; do
    refuse "metadata: resuming a finished run with --epochs $e" \
      "error: nothing to do: in_good.st has done 2 epochs, and this run stops after $e \(--epochs counts every epoch, the checkpoint's too\); pass --epochs 3 or more to train further, or --eval-only to evaluate it" \
      "$bin/rnn" "${t[@]}" --epochs $e --resume in_good.st
  done
  # ... but a last evaluation that was interrupted is done, and saved
  "$tool" ckpt-set in_good.st in_pend_a.st pending_eval 1 && "$tool" ckpt-set in_pend_a.st in_pend.st history
  run "metadata: the last epoch's evaluation pending" 0 "$bin/rnn" "${t[@]}" --epochs 2 --resume in_pend.st \
    --progress none --checkpoint pend.st &&
    has "metadata: the last epoch's evaluation pending" "$out" '^epoch 2/2: train loss .*validation loss' &&
    has "metadata: the last epoch's evaluation pending" "$out" '^checkpoint: pend.st$' &&
    check "metadata: the evaluation saved" test "$("$tool" ckpt-meta pend.st pending_eval)" = 0
  rm -f pend.st
  # a checkpoint whose parameters are NaN cannot be evaluated or trained from
  "$tool" ckpt-poison in_good.st in_nan.st Wh
  refuse "metadata: NaN parameters, evaluating" "cannot resume: in_nan.st: parameter 'Wh' holds NaN at index 0" \
    "$bin/rnn" "${t[@]}" --resume in_nan.st --eval-only
  refuse "metadata: NaN parameters, training" "in_nan.st: parameter 'Wh' holds NaN" \
    "$bin/rnn" "${t[@]}" --epochs 3 --resume in_nan.st
  ;;

resume)
  need_fm
  fresh resume
  args=("${train_data[@]}" --epochs 6 --limit 3200)
  run "uninterrupted" 0 "$bin/mlp" "${args[@]}" --progress none --checkpoint full.st
  # SIGINT once the first progress line shows that training runs
  signal_when INT 'step' "$bin/mlp" "${args[@]}" --progress line --checkpoint int.st
  err="$(cat err.txt)"
  check "SIGINT: exit status $rc is 130" test "$rc" = 130
  has "SIGINT" "$err" 'interrupted at step [0-9]+ \(epoch [1-6], [0-9]+/100 steps\); checkpoint written to int.st'
  check "SIGINT: a valid checkpoint" "$tool" ckpt-meta int.st epoch_step
  cmd="$(grep -A1 '^resume with:' err.txt | tail -1)"
  has "SIGINT resume command" "$cmd" "^  $bin/mlp --resume int.st --data .* --epochs 6 --limit 3200 --progress line --checkpoint int.st\$"
  eval "$cmd" >out2.txt 2>err2.txt
  check "resumed run: exit status $?" test $? = 0
  check "resumed = uninterrupted, bit for bit" "$tool" ckpt-cmp full.st int.st
  has "resumed run" "$(cat out2.txt)" '^resuming int.st at epoch [1-6], step [0-9]+/100'
  # SIGKILL (a crash): the last periodic checkpoint is whole and resumes
  signal_when KILL 'step 30/' "$bin/mlp" "${args[@]}" --progress line --checkpoint kill.st --checkpoint-every 7 2>/dev/null
  check "SIGKILL: no temporary files left but the one being written" test "$(ls kill.st.tmp.* 2>/dev/null | wc -l)" -le 1
  step="$("$tool" ckpt-meta kill.st step)"
  check "SIGKILL: a checkpoint at a multiple of 7 ($step)" test $((step % 7)) = 0 -a "$step" -gt 0
  run "resume after SIGKILL" 0 "$bin/mlp" "${args[@]}" --progress none --checkpoint kill.st --resume kill.st &&
    check "resumed after SIGKILL = uninterrupted" "$tool" ckpt-cmp full.st kill.st
  check "resumed after SIGKILL: the killed save's temporary is gone" test -z "$(ls kill.st.tmp.* 2>/dev/null)"
  # resuming with other data is refused
  run "other data" 1 "$bin/mlp" "${args[@]}" --limit 1600 --resume int.st --checkpoint x.st --progress none &&
    has "other data" "$err" 'int.st: .*other data|int.st: step'
  ;;

checkpoint)
  need_fm
  fresh checkpoint
  args=("${train_data[@]}" --epochs 1 --limit 1600 --progress none)
  if run "train" 0 "$bin/mlp" "${args[@]}" --checkpoint c.st; then
    acc="$(num "$(grep '^done' <<<"$out")" 'accuracy ([0-9.]+%)')"
    size=$(stat -c %s c.st)
    head -c $((size / 2)) c.st >trunc.st
    cp c.st corrupt.st && printf 'XXXX' | dd of=corrupt.st bs=1 seek=20 conv=notrunc 2>/dev/null
    run "truncated" 1 "$bin/mlp" "${args[@]}" --resume trunc.st --checkpoint out.st &&
      has "truncated" "$err" 'cannot resume: trunc.st: .*(truncated|data region|bytes)'
    check "truncated: no checkpoint written" test ! -e out.st
    run "corrupted" 1 "$bin/mlp" "${args[@]}" --resume corrupt.st --checkpoint out.st &&
      has "corrupted" "$err" 'cannot resume: corrupt.st: '
    run "eval-only truncated" 1 "$bin/mlp" "${args[@]}" --resume trunc.st --eval-only
    run "eval-only" 0 "$bin/mlp" "${args[@]}" --resume c.st --eval-only &&
      has "eval-only: the final accuracy again" "$out" "accuracy $acc"
    # 1000 test images are 31 batches of 32 and a padded one of 8, or 25 full
    # batches of 40: the same loss and accuracy, padding rows do not count
    loss32="$(num "$out" 'test loss ([0-9.]+)')"
    run "eval-only, batch 40" 0 "$bin/mlp_b40" "${args[@]}" --resume c.st --eval-only &&
      has "eval-only, batch 40: the same accuracy" "$out" "accuracy $acc \\(" &&
      check "eval-only: loss $loss32 at batch 32 = $(num "$out" 'test loss ([0-9.]+)') at batch 40" \
        awk -v a="$loss32" -v b="$(num "$out" 'test loss ([0-9.]+)')" 'BEGIN { d = a - b; exit !(d < 2e-4 && d > -2e-4) }'
    run "resume, batch 40" 1 "$bin/mlp_b40" "${args[@]}" --resume c.st --checkpoint b40.st &&
      has "resume, batch 40" "$err" 'c.st: trained with batches of 32; this program.s batch is 40'

    run "other model" 1 "$bin/mlp_npy" --resume c.st --eval-only --data "$data/train_x.npy,$data/train_y.npy" \
      --test "$data/test_x.npy,$data/test_y.npy" &&
      has "other model" "$err" "c.st: tensor 'W1' is f32\\[784,64\\], but the model's 'W1' is f32\\[784,32\\]"
  fi
  ;;

nan)
  need_fm
  fresh nan
  run "nan" 1 "$bin/mlp" "${train_data[@]}" --epochs 1 --lr 1e6 --progress none --checkpoint c.st --metrics m.csv &&
    has "nan" "$err" 'error: the loss is (NaN|infinite) at step [0-9]+ \(epoch 1, batch [0-9]+/125, learning rate [0-9.e+]+\); training stopped, no checkpoint written'
  check "nan: no checkpoint" test ! -e c.st
  ;;

cli)
  fresh cli
  run "unknown flag" 2 "$bin/mlp" --epoch 3 && has "unknown flag" "$err" "unknown flag '--epoch'" &&
    has "unknown flag: usage" "$err" '^usage: .*mlp \[flags\]'
  run "bad number" 2 "$bin/mlp" --epochs 0 && has "bad number" "$err" "--epochs needs an integer 1\.\.2147483646, not '0'"
  run "missing value" 2 "$bin/mlp" --lr && has "missing value" "$err" '--lr needs a value'
  run "idx needs two files" 2 "$bin/mlp" --data x.idx && has "idx needs two files" "$err" 'two comma-separated files'
  # bad values exit 2 naming the flag, before anything is read (before: 1,
  # "learning rate 1e+300 is invalid" after loading the data; 'b,c: cannot open')
  run "a huge learning rate" 2 "$bin/mlp" --lr 1e300 &&
    has "a huge learning rate" "$err" "--lr needs a number above 0, at most 1e6, not '1e300'"
  run "three files" 2 "$bin/mlp" --data a,b,c && has "three files" "$err" "--data needs two comma-separated files"
  run "no files" 2 "$bin/mlp" --test , && has "no files" "$err" "--test needs two comma-separated files"
  run "text, no file" 2 "$bin/rnn" --data , && has "text, no file" "$err" "--data needs one path here, not ','"
  run "hex" 2 "$bin/rnn" --limit 0x10 && has "hex" "$err" "--limit needs an integer >= 1, not '0x10'"
  run "an empty path" 2 "$bin/rnn" --metrics '' && has "an empty path" "$err" "--metrics needs a path"
  # more steps than a model counts: refused once the data says how many an epoch has
  run "too many epochs" 2 "$bin/rnn" --data "$data/text.txt" --limit 3000 --epochs 2000000000 --checkpoint c.st &&
    has "too many epochs" "$err" "--epochs 2000000000: 2000000000 epochs of 5 steps are more than the 2147483646 steps"
  run "eval-only without resume" 2 "$bin/mlp" --eval-only && has "eval-only" "$err" '--eval-only needs --resume'
  run "generate without a generate function" 2 "$bin/mlp" --generate 10
  run "bad progress" 2 "$bin/mlp" --progress=fancy
  run "help" 0 "$bin/mlp" --help && has "help" "$out" 'epochs to train \(default 5\)' &&
    has "help: lr" "$out" 'base learning rate \(default 0.05' && has "help: data" "$out" 'train-images-idx3-ubyte.gz'
  run "help text model" 0 "$bin/rnn" --help && has "help text model" "$out" '--generate N .*default 300'
  nothing_written cli
  ;;

jit)
  # trains in-process; interrupted, it prints a resume command that keeps
  # the compiler's -D options, and that command finishes the run
  need_fm
  fresh jit
  signal_when INT 'step' "$nnc" train "$src/samples/fashion_mlp.nn" -D B=32 -D H=64 "${train_data[@]}" --epochs 4 \
    --limit 3200 --progress line
  check "nnc train: interrupted, exit status $rc is 130" test "$rc" = 130
  check "nnc train: checkpoint named after the .nn file" test -s fashion_mlp.ckpt.safetensors
  cmd="$(grep -A1 '^resume with:' err.txt | tail -1)"
  has "nnc train: resume command" "$cmd" "^  nnc train $src/samples/fashion_mlp.nn -D B=32 -D H=64 --resume fashion_mlp.ckpt.safetensors --data "
  cmd="${cmd/  nnc /$nnc }"
  run "nnc train: resumed" 0 eval "$cmd" && has "nnc train: resumed" "$out" '^resuming fashion_mlp.ckpt.safetensors at epoch [1-4], step' &&
    has "nnc train: resumed" "$out" '^done: 4 epochs \(400 steps\).*accuracy [0-9.]+%'
  ;;

*)
  echo "unknown test '$test'"
  exit 2
  ;;
esac

if [ "$fail" != 0 ]; then
  echo "train/$test: $fail failure(s)"
  exit 1
fi
echo "train/$test: ok"
