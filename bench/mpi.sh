#!/bin/sh
# mpi.sh — issue 12's speed numbers: data-parallel training on this machine,
# 1 process x 2 threads against 2 MPI ranks x 1 thread, for the MLP
# (samples/fashion_mlp.nn) and the CNN (samples/fashion_cnn.nn), both with a
# run-time batch so 2 ranks can split the train block's batch (global batch
# the same in both runs). From the training programs' own summaries:
# ms per step, scaling efficiency (1x2 ms/step over 2x1 ms/step), and the
# gradient sum's time per step that the backward pass does not hide: the
# generated gradient announces each parameter's gradient when it is final
# and its bucket's sum starts then (rt_mpi.h rt_dist_grad); the same runs
# with NNC_MPI_OVERLAP=0 start every sum after the backward pass, and the
# share of that wait which overlap removes is "hidden". Then one all-reduce of the gradient's size,
# measured alone (bench/mpi_allreduce.c), and a PROJECTION to 8 and 64
# ranks: per-rank batch fixed (--per-rank-batch), ring all-reduce time
# 2 (P-1)/P x bytes / bandwidth + 2 (P-1) x latency, with the bandwidth
# fitted to the gradient's all-reduce here (shared memory) and with a
# 10 Gb/s network.
#
#   bench/mpi.sh [EPOCHS]      (default 2; NNC=path to nnc)
#
# Needs mpirun and mpicc (openmpi-bin, libopenmpi-dev) and Fashion-MNIST.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NNC=${NNC:-$ROOT/build/compiler/nnc}
EPOCHS=${1:-2}
FM=/usr/share/datasets/fashion-mnist
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnc-mpi.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
cd "$WORK"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, shared with other jobs: the numbers are noisy"
echo "ISA: NNC_ISA=${NNC_ISA:-best}; $EPOCHS epochs of 8,192 images (evaluation on the 10,000 test images not timed); load average $(cut -d' ' -f1 /proc/loadavg)"
mpicc -O2 -o mpi_allreduce "$ROOT/bench/mpi_allreduce.c"

# field VALUE-AFTER PATTERN FILE: the number after PATTERN in FILE
after() { sed -n "s/.*$1 *\([0-9.][0-9.]*\).*/\1/p" "$2" | head -1; }
acc() { sed -n 's/.*accuracy \([0-9.]*%\).*/\1/p' "$1" | head -1; }
samples_s() { sed -n 's/.*, \([0-9][0-9]*\) samples\/s.*/\1/p' "$1" | head -1; }

for model in mlp cnn; do
  sample="$ROOT/samples/fashion_$model.nn"
  B=$(sed -n 's/^const B = \([0-9]*\).*/\1/p; s/^dim B <= \([0-9]*\).*/\1/p' "$sample" | head -1)
  sed "s/^const B = $B.*/dim B <= $B/" "$sample" >"$model.nn"
  "$NNC" "$model.nn" --emit=exe -o "train_$model" 2>/dev/null
  "$NNC" "$model.nn" --stats 2>/dev/null | sed -n 's/.*parameters \([0-9]*\) bytes.*/\1/p' >"$model.bytes" || true
  D="--test $FM/t10k-images-idx3-ubyte.gz,$FM/t10k-labels-idx1-ubyte.gz --limit 8192 --epochs $EPOCHS --progress none --checkpoint $WORK/c.st"
  # interleaved, 3 runs each; medians
  : >"$model.one"
  : >"$model.two"
  : >"$model.seq"
  comm_ms() { sed -n 's/^communication: \([0-9.]*\) ms per step.*/\1/p' "$1"; }
  for r in 1 2 3; do
    "./train_$model" $D --threads 2 >one.txt 2>&1
    samples_s one.txt >>"$model.one"
    mpirun --oversubscribe -np 2 "./train_$model" $D --threads 1 >two.txt 2>&1
    echo "$(samples_s two.txt) $(comm_ms two.txt)" >>"$model.two"
    NNC_MPI_OVERLAP=0 mpirun --oversubscribe -np 2 -x NNC_MPI_OVERLAP "./train_$model" $D --threads 1 >seq.txt 2>&1
    echo "$(samples_s seq.txt) $(comm_ms seq.txt)" >>"$model.seq"
  done
  echo "$model: test accuracy 1 process $(acc one.txt), 2 ranks $(acc two.txt); $(sed -n 's/.*; \([0-9]* of [0-9]* buckets\)/\1/p' two.txt)"
  one=$(sort -n "$model.one" | sed -n 2p)
  two=$(sort -n "$model.two" | sed -n 2p)
  rate2=${two% *}
  comm=$(awk '{ print $2 }' "$model.two" | sort -n | sed -n 2p)
  seq=$(sort -n "$model.seq" | sed -n 2p)
  rateseq=${seq% *}
  commseq=$(awk '{ print $2 }' "$model.seq" | sort -n | sed -n 2p)
  bytes=$(cat "$model.bytes")
  echo "$model $B $one $rate2 $comm $bytes $rateseq $commseq" >>results
done

# one all-reduce of each model's gradient, and of small and large buffers
sizes="8 $(awk '{print $6}' results | tr '\n' ' ') 16777216"
mpirun --oversubscribe -np 2 ./mpi_allreduce 50 $sizes >ar.txt
echo
echo "all-reduce on 2 ranks of this machine (median of 50):"
awk '{ printf "  %10d bytes: %8.3f ms\n", $1, $2 * 1e3 }' ar.txt
lat=$(awk 'NR == 1 { print $2 }' ar.txt)
echo "  latency ~$(awk -v l="$lat" 'BEGIN { printf "%.1f", l * 1e6 }') us (8 bytes)"
echo
echo "wait: the time per step spent waiting for the gradient sums after the backward pass (waiting for"
echo "the slower rank included: on a loaded machine most of it), with overlap and with NNC_MPI_OVERLAP=0;"
echo "hidden: the share of the latter that overlap removes (medians of 3)"
printf "%-5s %6s %12s %12s %11s %16s %12s %7s\n" model batch "1x2 ms/step" "2x1 ms/step" efficiency "2x1 no overlap" "wait ms" hidden
while read -r model B one rate2 comm bytes rateseq commseq; do
  awk -v m="$model" -v B="$B" -v o="$one" -v t="$rate2" -v c="$comm" -v ts="$rateseq" -v cs="$commseq" 'BEGIN {
    ms1 = 1e3 * B / o; ms2 = 1e3 * B / t; mss = 1e3 * B / ts
    printf "%-5s %6d %12.2f %12.2f %10.0f%% %16.2f %5.2f/%-5.2f %6.0f%%\n", m, B, ms1, ms2, 100 * ms1 / ms2, mss, c, cs,
           (cs > 0 ? 100 * (cs - c) / cs : 0) }'
done <results
echo
echo "PROJECTION (not measured): weak scaling (--per-rank-batch), each rank a batch of B/2 on one core,"
echo "taken to cost the 1x2 step (the same work per core, no waiting); ring all-reduce"
echo "T(P) = 2 (P-1)/P x bytes / bw + 2 (P-1) x latency, bw fitted to the gradient's all-reduce here"
echo "(shared memory), or 1.25 GB/s and 20 us (10 Gb/s Ethernet)"
printf "%-5s %6s %12s %14s %22s %22s\n" model ranks "grad bytes" "compute ms" "eff. (shared memory)" "eff. (10 Gb/s)"
while read -r model B one rate2 comm bytes rateseq commseq; do
  ar2=$(awk -v b="$bytes" '$1 == b { print $2 }' ar.txt)
  for P in 2 8 64; do
    awk -v m="$model" -v B="$B" -v o="$one" -v by="$bytes" -v P="$P" -v ar2="$ar2" -v lat="$lat" 'BEGIN {
      comp = 1e3 * B / o               # ms per step of a rank without the sum
      bw = by / (ar2 - 2 * lat)
      ar = (2 * (P - 1) / P * by / bw + 2 * (P - 1) * lat) * 1e3
      net = (2 * (P - 1) / P * by / 1.25e9 + 2 * (P - 1) * 20e-6) * 1e3
      printf "%-5s %6d %12d %14.2f %21.0f%% %21.0f%%\n", m, P, by, comp, 100 * comp / (comp + ar), 100 * comp / (comp + net) }'
  done
done <results
