#!/usr/bin/env bash
# mpi_tests.sh NNC TOOL WORK TEST — data-parallel training programs under
# Open MPI (tests/mpi.cmake), one ctest per TEST, on this machine only
# (loopback; --oversubscribe: the machine may have fewer cores than ranks):
#
#   setup    the MLP sample (samples/fashion_mlp.nn) with a run-time batch
#            (dim B <= 128) and with a static batch of 64 (for
#            --per-rank-batch), built --emit=exe; 4,096 training and 1,000
#            test images of Fashion-MNIST; the CNN sample (dim B <= 64) and
#            the MLP with dropout after each hidden layer
#   equal    256 steps (8 epochs of 32 batches of 128) on 2 ranks give the
#            parameters of 1 process within 1e-5 relative (per tensor,
#            ||a - b|| / ||a||: the sums of the
#            gradients round in another order), and the loss falls; the
#            evaluation sharded over 2 ranks (--eval-only) prints exactly
#            the figures of 1 process
#   cnn_equal  the CNN: 16 steps (1 epoch of 16 batches of 64) on 2 ranks
#            equal 1 process within 1e-4. Not 1e-5: a rounding difference
#            can flip which of two nearly equal values a max pool picks, a
#            discrete change of ~4e-5 in the conv biases; one process with
#            the AVX2 kernels instead of the AVX-512 ones shows the same
#            flips (and over 2 epochs, 2e-4 from it); a wrong share or
#            bucket is off by far more
#   dropout  the dropout MLP: 2 ranks equal 1 process within 1e-5 (each
#            rank draws the masks of its rows of the global batch), so do
#            2 ranks with --per-rank-batch of a static batch of 64
#   robust   the gradient-penalty sample (samples/fashion_robust.nn: the
#            loss holds the gradient of the fit with respect to the input,
#            scaled back by the run-time n): 16 steps (1 epoch of 2,048
#            images) on 2 ranks equal 1 process within 1e-5, and the FGSM
#            accuracy it reports is the same. Longer runs usually stay as
#            close (4 epochs, 64 steps: 1.1e-6; 1 process with the AVX2
#            kernels: 1.6e-6) but not always: a 2-epoch run ended 2.6e-4
#            apart in b1, with the same accuracy, where a rounding-level
#            difference flipped a relu mask of the penalty's double
#            backward pass
#   per_rank --per-rank-batch: 2 ranks of the static-batch-64 program equal
#            1 process of the batch-128 one; without the flag the static
#            program refuses 2 ranks, saying why
#   sigint   SIGINT to one rank of 2 (in its second epoch): both exit 130
#            at the same step, rank 0 writes one checkpoint; resumed on 2
#            ranks it ends at the uninterrupted 2-rank run's parameters bit
#            for bit, resumed on 1 at the uninterrupted 1-process run's
#            (1e-5). Why the second epoch: a checkpoint of the first few
#            steps (ASan's slow programs were interrupted at steps 4 to 7)
#            resumed on 1 process ends 0.028 relative off in b2, as one
#            process with NNC_ISA=avx2 instead of AVX-512 does from step 1:
#            the 8-epoch trajectory has a neighbour that a rounding-level
#            change early on (the 2-rank sums of steps 1-4) can reach
#   kill     SIGKILL to one rank: the job ends within 60 s with an error
#            naming rank 1 (mpirun's); SIGSTOP to one rank: a collective
#            times out after --mpi-timeout 5 with an error, and the job ends
#   doc_example  docs/api.md's MPI program (NAME_grad, whose hook set by
#            NAME_set_grad_ready starts each gradient's MPI_Iallreduce,
#            NAME_apply_update) compiles with mpicc and runs on 2 ranks: the
#            loss falls, the ranks' parameters are identical
#   no_mpi   (a build without MPI) a program started as 2 ranks says MPI
#            support was not built, exit 1
#
# Cases need Fashion-MNIST and (but no_mpi) mpirun: without them, exit 77 (skipped).
set -uo pipefail
nnc="$1"
tool="$2"
work="$3"
test="$4"
src="$(cd "$(dirname "$0")/../.." && pwd)"
fm="${NNC_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI looks for network interfaces and a shared-memory directory: keep
# it on this machine and quiet
export OMPI_MCA_btl=self,vader
fail=0
skip() { echo "SKIPPED mpi/$test: $1"; exit 77; }
bad() { echo "FAIL mpi/$test: $*"; fail=1; }

have_fm() { [ -r "$fm/train-images-idx3-ubyte.gz" ] && [ -r "$fm/t10k-images-idx3-ubyte.gz" ]; }
if [ "$test" != no_mpi ] && [ "$test" != setup ]; then
  command -v mpirun >/dev/null || skip "mpirun is not installed (openmpi-bin)"
  have_fm || skip "Fashion-MNIST is not installed under $fm"
fi
mpi() { local np="$1"; shift; timeout 300 mpirun --oversubscribe -np "$np" "$@"; }
# start NAME ARGS...: mpirun in the background (job=its pid) once rank 0
# shows training has started (or, with wait_for set, printed that);
# rank1=the pid of rank 1
start() {
  local log="$1"
  shift
  mpirun --oversubscribe -np 2 "$@" >"$log.out" 2>"$log.err" &
  job=$!
  # under load (ctest -j with other jobs) the start can take long: wait up
  # to 120 s for the line, then up to 10 s for rank 1 to show among the
  # children (a rank's environment is readable once it has exec'd)
  for _ in $(seq 12000); do grep -q "${wait_for:-step}" "$log.err" 2>/dev/null && break; sleep 0.01; done
  rank1=""
  for _ in $(seq 100); do
    for p in $(pgrep -P "$job"); do
      [ "$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep '^OMPI_COMM_WORLD_RANK=')" = OMPI_COMM_WORLD_RANK=1 ] && rank1=$p
    done
    [ -n "$rank1" ] && break
    sleep 0.1
  done
  [ -n "$rank1" ] || bad "cannot find rank 1 among the children of mpirun $job ($(grep -c "${wait_for:-step}" "$log.err" 2>/dev/null) lines '${wait_for:-step}' seen)"
}
# finish SECONDS: waits for the job at most that long (then kills it); st=its status
finish() {
  local t=0
  while kill -0 "$job" 2>/dev/null && [ $t -lt $((10 * $1)) ]; do sleep 0.1; t=$((t + 1)); done
  if kill -0 "$job" 2>/dev/null; then
    bad "the job still runs after $1 s"
    kill -KILL "$job" 2>/dev/null
    [ -n "$rank1" ] && kill -KILL "$rank1" 2>/dev/null
  fi
  wait "$job"
  st=$?
}
data="$work/data"
D=(--data "$data/train_x.idx,$data/train_y.idx" --test "$data/test_x.idx,$data/test_y.idx" --threads 1)
close() { "$tool" ckpt-close "$1" "$2" "${4:-1e-5}" || bad "$3: the parameters differ: $("$tool" ckpt-close "$1" "$2" "${4:-1e-5}" 2>&1)"; }

case "$test" in
setup)
  rm -rf "$work" && mkdir -p "$work" "$data" || exit 1
  cd "$work" || exit 1
  if grep -q '^dim B' "$src/samples/fashion_mlp.nn"; then cp "$src/samples/fashion_mlp.nn" mlp_dyn.nn
  else sed 's/^const B = \([0-9]*\).*/dim B <= \1/' "$src/samples/fashion_mlp.nn" >mlp_dyn.nn; fi
  grep -q '^dim B <= 128' mlp_dyn.nn || { echo "FAIL setup: no run-time batch in mlp_dyn.nn"; exit 1; }
  sed 's/^dim B <= 128.*/const B = 64/; s/^const B = 128.*/const B = 64/' mlp_dyn.nn >mlp64.nn
  "$nnc" mlp_dyn.nn --emit=exe -o train_dyn || exit 1
  "$nnc" mlp64.nn --emit=exe -o train64 || exit 1
  "$nnc" "$src/samples/fashion_cnn.nn" --emit=exe -o train_cnn || exit 1
  sed 's/^\( *let h\([12]\) = \)\(relu(.*)\)$/\1dropout(\3, 0.2)/' mlp_dyn.nn >mlp_drop.nn
  [ "$(grep -c dropout mlp_drop.nn)" = 2 ] || { echo "FAIL setup: no dropout in mlp_drop.nn"; exit 1; }
  sed 's/^dim B <= 128.*/const B = 64/' mlp_drop.nn >mlp_drop64.nn
  "$nnc" mlp_drop.nn --emit=exe -o train_drop || exit 1
  "$nnc" mlp_drop64.nn --emit=exe -o train_drop64 || exit 1
  "$nnc" "$src/samples/fashion_robust.nn" --emit=exe -o train_robust || exit 1
  if have_fm; then
    "$tool" idx-head "$fm/train-images-idx3-ubyte.gz" "$data/train_x.idx" 4096 &&
      "$tool" idx-head "$fm/train-labels-idx1-ubyte.gz" "$data/train_y.idx" 4096 &&
      "$tool" idx-head "$fm/t10k-images-idx3-ubyte.gz" "$data/test_x.idx" 1000 &&
      "$tool" idx-head "$fm/t10k-labels-idx1-ubyte.gz" "$data/test_y.idx" 1000 || exit 1
  fi
  ;;
equal)
  cd "$work" || exit 1
  ./train_dyn "${D[@]}" --epochs 8 --checkpoint one.st --metrics one.csv -q >one.out 2>&1 || bad "1 process: $(tail -3 one.out)"
  mpi 2 ./train_dyn "${D[@]}" --epochs 8 --checkpoint two.st --metrics two.csv >two.out 2>&1 || bad "2 ranks: $(tail -5 two.out)"
  grep -q "data parallel: 2 MPI ranks, 64 samples of each batch per rank" two.out || bad "no data-parallel line: $(head -5 two.out)"
  [ "$(grep -c '^epoch [0-9]*/8: train loss' two.out)" = 8 ] || bad "rank 0 alone should print the 8 epoch lines: $(grep -c '^epoch [0-9]*/8: train loss' two.out)"
  close one.st two.st "1 vs 2 ranks"
  # the loss falls: the first periodic row's train loss against the last epoch's
  awk -F, 'NR == 2 { first = $3 } END { last = $3; if (!(last < 0.7 * first)) { print "loss " first " -> " last; exit 1 } }' two.csv ||
    bad "the loss did not fall: $(head -2 two.csv; tail -1 two.csv)"
  [ "$("$tool" ckpt-meta two.st ranks)" = 2 ] || bad "the checkpoint does not record 2 ranks"
  # sharded evaluation: 8 test batches (the last one partial) dealt to 2 ranks
  ./train_dyn "${D[@]}" --resume two.st --eval-only >ev1.out 2>&1 || bad "--eval-only on 1: $(tail -3 ev1.out)"
  mpi 2 ./train_dyn "${D[@]}" --resume two.st --eval-only >ev2.out 2>&1 || bad "--eval-only on 2: $(tail -3 ev2.out)"
  grep -q "accuracy" ev1.out || bad "no evaluation: $(cat ev1.out)"
  cmp -s ev1.out ev2.out || bad "the sharded evaluation differs: $(cat ev1.out ev2.out)"
  ;;
cnn_equal)
  cd "$work" || exit 1
  C=(--data "$data/train_x.idx,$data/train_y.idx" --test "$data/test_x.idx,$data/test_y.idx" --limit 1024 --epochs 1)
  ./train_cnn "${C[@]}" --threads 1 --checkpoint cnn1.st -q >cnn1.out 2>&1 || bad "1 process: $(tail -3 cnn1.out)"
  mpi 2 ./train_cnn "${C[@]}" --threads 1 --checkpoint cnn2.st >cnn2.out 2>&1 || bad "2 ranks: $(tail -5 cnn2.out)"
  grep -q "data parallel: 2 MPI ranks, 32 samples of each batch per rank" cnn2.out || bad "no data-parallel line: $(head -5 cnn2.out)"
  close cnn1.st cnn2.st "the CNN, 1 vs 2 ranks" 1e-4
  ;;
dropout)
  cd "$work" || exit 1
  ./train_drop "${D[@]}" --epochs 2 --checkpoint d1.st -q >d1.out 2>&1 || bad "1 process: $(tail -3 d1.out)"
  mpi 2 ./train_drop "${D[@]}" --epochs 2 --checkpoint d2.st >d2.out 2>&1 || bad "2 ranks: $(tail -5 d2.out)"
  close d1.st d2.st "dropout, 1 vs 2 ranks"
  mpi 2 ./train_drop64 "${D[@]}" --epochs 2 --checkpoint d64.st --per-rank-batch >d64.out 2>&1 || bad "--per-rank-batch: $(tail -5 d64.out)"
  close d1.st d64.st "dropout, 1 vs 2 ranks of --per-rank-batch"
  ;;
robust)
  cd "$work" || exit 1
  ./train_robust "${D[@]}" --epochs 1 --limit 2048 --checkpoint r1.st -q >r1.out 2>&1 || bad "1 process: $(tail -3 r1.out)"
  mpi 2 ./train_robust "${D[@]}" --epochs 1 --limit 2048 --checkpoint r2.st >r2.out 2>&1 || bad "2 ranks: $(tail -5 r2.out)"
  grep -q "data parallel: 2 MPI ranks, 64 samples of each batch per rank" r2.out || bad "no data-parallel line: $(head -5 r2.out)"
  close r1.st r2.st "gradient penalty, 1 vs 2 ranks"
  acc() { sed -n 's/^done:.* accuracy \([0-9.]*%\).*/\1/p' "$1"; }
  [ -n "$(acc r1.out)" ] && [ "$(acc r1.out)" = "$(acc r2.out)" ] ||
    bad "the FGSM accuracy differs: '$(acc r1.out)' on 1 process, '$(acc r2.out)' on 2 ranks"
  ;;
per_rank)
  cd "$work" || exit 1
  ./train_dyn "${D[@]}" --epochs 4 --checkpoint one.st -q >one.out 2>&1 || bad "1 process: $(tail -3 one.out)"
  mpi 2 ./train64 "${D[@]}" --epochs 4 --checkpoint pr.st --per-rank-batch >pr.out 2>&1 || bad "--per-rank-batch: $(tail -5 pr.out)"
  grep -q "32 batches of 128 per epoch" pr.out || bad "the global batch is not 2 x 64: $(head -4 pr.out)"
  close one.st pr.st "--per-rank-batch"
  mpi 2 ./train64 "${D[@]}" --epochs 1 --checkpoint no.st >no.out 2>&1 && bad "a static batch on 2 ranks should be refused"
  grep -q "batch of 64 is static.*--per-rank-batch" no.out || bad "the refusal does not say why: $(grep error no.out | head -2)"
  [ -e no.st ] && bad "a refused run wrote a checkpoint"
  ;;
sigint)
  cd "$work" || exit 1
  rm -f int.st
  ./train_dyn "${D[@]}" --epochs 8 --checkpoint full8.st -q >full.out 2>&1 || bad "uninterrupted: $(tail -3 full.out)"
  mpi 2 ./train_dyn "${D[@]}" --epochs 8 --checkpoint full8_2.st -q >full2.out 2>&1 || bad "uninterrupted on 2: $(tail -3 full2.out)"
  wait_for="epoch 2/8" start int ./train_dyn "${D[@]}" --epochs 8 --checkpoint int.st
  [ -n "$rank1" ] && kill -INT "$rank1"
  finish 120
  [ "$st" = 130 ] || bad "exit status $st, expected 130: $(tail -5 int.err)"
  grep -q "interrupted at step" int.err || bad "no interruption message: $(tail -5 int.err)"
  [ "$(grep -c 'interrupted at step' int.err)" = 1 ] || bad "rank 0 alone should report the interruption"
  step=$("$tool" ckpt-meta int.st step) || bad "no checkpoint after SIGINT"
  [ "${step:-0}" -gt 0 ] && [ "${step:-0}" -lt 256 ] || bad "the checkpoint is at step '$step'"
  cp int.st int1.st
  mpi 2 ./train_dyn "${D[@]}" --epochs 8 --resume int.st --checkpoint int.st >res.out 2>&1 || bad "resuming: $(tail -5 res.out)"
  grep -q "resuming int.st at epoch" res.out || bad "no resume line: $(head -5 res.out)"
  ./train_dyn "${D[@]}" --epochs 8 --resume int1.st --checkpoint int1.st -q >res1.out 2>&1 || bad "resuming on 1: $(tail -3 res1.out)"
  close full8_2.st int.st "interrupted on 2 ranks, resumed on 2 (against 2 ranks)" 0
  close full8.st int.st "interrupted on 2 ranks, resumed on 2"
  close full8.st int1.st "interrupted on 2 ranks, resumed on 1"
  ;;
kill)
  cd "$work" || exit 1
  for sig in KILL STOP; do
    rm -f k.st
    start k ./train_dyn "${D[@]}" --epochs 80 --checkpoint k.st --mpi-timeout 5
    t0=$(date +%s) # the job must end within 60 s of the signal, however long it took to start
    [ -n "$rank1" ] && kill -"$sig" "$rank1"
    finish 60
    t1=$(date +%s)
    [ "$st" != 0 ] || bad "SIG$sig to rank 1: the job exited 0"
    [ $((t1 - t0)) -lt 60 ] || bad "SIG$sig to rank 1: the job took $((t1 - t0)) s to end"
    if [ "$sig" = KILL ]; then # mpirun sees the death and names the rank
      grep -q "rank 1 with PID.*exited on signal 9" k.err || bad "SIGKILL: no message naming rank 1: $(tail -8 k.err)"
    else # a hung rank: the others' collectives time out (which rank waited where depends on the moment)
      grep -Eq "rank [01]: error: (no answer from rank 1|the gradient sum did not complete) within 5 s" k.err ||
        bad "SIGSTOP: no timeout message: $(tail -8 k.err)"
    fi
  done
  ;;
doc_example)
  # docs/api.md §12's program, as printed there, on 2 ranks
  command -v mpicc >/dev/null || skip "mpicc is not installed (libopenmpi-dev)"
  mkdir -p "$work/dp" && cd "$work/dp" || exit 1
  sed -n '/^\/\* dp.c:/,/^```/p' "$src/docs/api.md" | sed '$d' >dp.c
  [ "$(wc -l <dp.c)" -gt 40 ] || { bad "no example in docs/api.md"; exit 1; }
  "$nnc" "$src/samples/fashion_mlp.nn" --emit=lib -o libfashion_mlp.so || exit 1
  mpicc -std=c11 -Wall -Werror dp.c -o dp -L. -lfashion_mlp -Wl,-rpath,"$PWD" -lm || { bad "the example does not compile"; exit 1; }
  mpi 2 ./dp >dp.out 2>&1 || bad "exit status $?: $(tail -5 dp.out)"
  grep -q "^2 ranks, parameters identical" dp.out || bad "not identical: $(cat dp.out)"
  awk '/^step 5:/ { a = $4 } /^step 20:/ { b = $4 } END { exit !(b < a) }' dp.out || bad "the loss did not fall: $(cat dp.out)"
  ;;
no_mpi)
  cd "$work" || exit 1
  OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 ./train_dyn --epochs 1 >nm.out 2>&1
  st=$?
  [ "$st" = 1 ] || bad "exit status $st, expected 1"
  grep -q "MPI support was not built" nm.out || bad "no message: $(cat nm.out)"
  ;;
*) echo "unknown test $test"; exit 2 ;;
esac
[ $fail = 0 ] && echo "PASS mpi/$test"
exit $fail
