#!/usr/bin/env bash
# step_vs_torch.sh — speed of one training step of every sample
# (samples/fashion_mlp, fashion_cnn, char_rnn, char_lstm, tiny_gpt: forward,
# backward, the train block's optimizer update and clipping), nnc against a
# PyTorch peer doing the same work on the same shapes, measured in one run,
# each at 1 and at 2 threads. Not a test: numbers depend on the machine and
# its load (printed before and after).
#
#   bash bench/step_vs_torch.sh [path/to/nnc]
#   NNC_ISA=avx2 bash bench/step_vs_torch.sh        # the AVX2 paths (see below)
#   PYTHON=python3.11 bash bench/step_vs_torch.sh   # another Python for the peer
#
# For each sample: ms per step of nnc (bench/step_bench.c on the generated
# .so) and of PyTorch (bench/torch_step.py, bench/torch_chars.py), both the
# median of 15 repeats; nnc/PyTorch best-of-threads (each side's faster
# thread count) and 1 thread against 1 thread; nnc's GFLOP/s and its share of
# the machine's own sgemm peak at the same thread count (numpy + OpenBLAS,
# 1024^3, measured at the start of the run); the gradient/forward time ratio
# (step_bench: minimize's gradient against the forward function, predict or
# generate); the instruction set. Ends with the targets of issue 9, each
# marked met or not met (reported, never asserted).
#
# FLOPs are `nnc --stats`'s MFLOP of train_step: 2 per multiply-add of the
# matmuls and convolutions of the compiled IR (loop bodies times their trip
# count; the causal attention's full T x T products), nothing for
# elementwise work, softmax, layernorm, embedding lookups or the optimizer.
#
# ISA: NNC_ISA=avx512|avx2|c caps both nnc's generated code and the
# runtime's kernels (step_bench reports what the runtime picked). With
# NNC_ISA=avx2 the peer and the sgemm peak are capped the same way
# (OpenBLAS's Haswell kernels, oneDNN and ATen at AVX2), so an AVX-512
# machine shows what an AVX2 one would; NNC_ISA=c leaves the peer alone.
#
# The peer's configuration (Debian's python3-torch 1.13: ATen threads are
# OpenMP (libgomp), dense layers call OpenBLAS, convolutions oneDNN on the
# OpenMP threads). OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset (forced
# values slow it down) and glibc keeps freed memory (page faults would
# dominate its CNN step). Threads, measured on this 2-core machine:
# - 1 thread is OMP_NUM_THREADS=1 *and* OPENBLAS_NUM_THREADS=1: OpenBLAS
#   starts one thread per core whatever torch.set_num_threads says, so
#   set_num_threads(1) alone times GEMMs on both cores (MLP step 1.48 ms
#   "1 thread" vs 2.27 ms really on one).
# - 2 threads has two pools, libgomp's and OpenBLAS's, 4 threads on 2
#   cores, and both spin after their work (libgomp's default spin count,
#   OpenBLAS's thread timeout): each steals the core the other needs, and
#   on a shared machine other jobs make it far worse. Measured: the MLP step
#   at 2.2 to 80 ms, char_rnn 29 to 1600 ms with set_num_threads(2) and the
#   defaults. No single setting was best for every sample, so the peer gets
#   the fastest of three honest ones at 2 threads:
#     passive   OMP 2 + OpenBLAS 2, OMP_WAIT_POLICY=PASSIVE (OpenMP workers
#               sleep at once, never compete with OpenBLAS's)
#     blas      OMP 1 + OpenBLAS 2 (only GEMMs parallel, nothing to fight)
#     ompblas   OMP 2 + Debian's OpenMP build of OpenBLAS (libopenblas0-
#               openmp, bench/peer_blas.sh): one pool for both, default spin
#   The table names the one that won. A spinning configuration can stall for
#   seconds per step on a loaded machine; each peer run has a time limit.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
nnc="${1:-$top/build/compiler/nnc}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ ! -x "$nnc" ]; then
  echo "no nnc at $nnc (build first, or pass its path)" >&2
  exit 2
fi
py="${PYTHON:-/usr/bin/python3}" # the peer's Python (Debian's has python3-torch)
read -ra samples <<<"${SAMPLES:-fashion_mlp fashion_cnn char_rnn char_lstm tiny_gpt}" # SAMPLES="a b": fewer
calc() { awk "BEGIN { print ($*) }"; }
fmt() { awk -v v="$2" "BEGIN { if (v == \"\" || v == \"-\") print \"-\"; else printf \"$1\", v }"; }

# step_bench with the runtime library (it then reports the runtime's ISA)
rtlib="$(dirname "$nnc")/../runtime/libnnrt.a"
if [ -e "$rtlib" ]; then
  cc -O2 -DSTEP_BENCH_RT -I"$top/runtime" "$top/bench/step_bench.c" "$rtlib" -o "$work/step_bench" -ldl -lm -lpthread
else
  cc -O2 -I"$top/runtime" "$top/bench/step_bench.c" -o "$work/step_bench" -ldl
fi

# --- the peer's environment (see the top of this file) ---
source "$top/bench/peer_blas.sh"
torch_ok=0
omp_blas=""
# The peer is Debian's python3-torch: installed here when missing (as root,
# Debian's Python only), never needed to build or test nnc.
if ! "$py" -c 'import torch' 2>/dev/null && [ "$py" = /usr/bin/python3 ] && [ "$(id -u)" = 0 ] &&
  command -v apt-get >/dev/null; then
  echo "installing the peer (Debian's python3-torch) ..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch >/dev/null 2>&1 ||
    echo "could not install python3-torch: the peer is skipped"
fi
if "$py" -c 'import torch' 2>/dev/null; then
  torch_ok=1
  peer_blas
  omp_blas="$(peer_blas_openmp)"
fi
cap=()
[ "${NNC_ISA:-}" = avx2 ] && cap=(OPENBLAS_CORETYPE=Haswell DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)
peer_env() { # CONFIG: prints nothing; runs "$@" after it in the peer's environment
  local cfg="$1"
  shift
  local e=()
  case "$cfg" in
  one) e=(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1) ;;
  passive) e=(OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE) ;;
  blas) e=(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2) ;;
  ompblas) e=(LD_LIBRARY_PATH="$omp_blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" OMP_NUM_THREADS=2) ;;
  esac
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u OMP_WAIT_POLICY \
    -u GOMP_SPINCOUNT MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=67108864 \
    "${cap[@]}" "${e[@]}" "$@"
}
torch_ms() { # CONFIG SAMPLE: ms per step, empty if it failed or ran out of time
  local t=2
  case "$1" in one | blas) t=1 ;; esac
  peer_env "$1" timeout 150 "$py" "$top/bench/torch_step.py" "$2" "$t" 2>/dev/null || true
}

# --- the machine ---
cpu="$(lscpu | sed -n -E 's/^Model name: *//p')"
flags="$(grep -m1 '^flags' /proc/cpuinfo)"
has=""
for f in avx512f avx2 fma; do [[ " $flags " == *" $f "* ]] && has="$has $f"; done
echo "CPU: $cpu, $(nproc) cores, has:${has:- none of avx512f/avx2/fma}; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

peak=("-" "-")
if "$py" -c 'import numpy' 2>/dev/null; then
  for t in 1 2; do
    peak[t - 1]=$(peer_env one env OPENBLAS_NUM_THREADS=$t "$py" -c '
import time, numpy as np
n = 1024
a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32); c = np.empty_like(a)
for _ in range(3): np.matmul(a, b, out=c)
best = 1e9
for _ in range(10):
    t = time.perf_counter()
    for _ in range(4): np.matmul(a, b, out=c)
    best = min(best, (time.perf_counter() - t) / 4)
print(f"{2 * n ** 3 / best / 1e9:.1f}")')
  done
fi
if [ "${peak[1]}" = "-" ]; then
  echo "sgemm peak: $py has no numpy: not measured (no share of peak)"
else
  echo "sgemm peak (numpy/OpenBLAS 1024^3, best of 10${cap:+, capped at AVX2}): ${peak[0]} GFLOP/s at 1 thread, ${peak[1]} at 2"
fi
if [ "$torch_ok" = 1 ]; then
  echo "peer: PyTorch $("$py" -c 'import torch; print(torch.__version__)'), 2-thread configurations: passive blas${omp_blas:+ ompblas}${cap:+; capped at AVX2}"
  [ -z "$omp_blas" ] && echo "peer: no OpenMP OpenBLAS (libopenblas0-openmp): the ompblas configuration is not tried"
else
  echo "peer: PyTorch (python3-torch) is not installed: no peer measured"
fi

# --- compile ---
for s in "${samples[@]}"; do
  start=$(date +%s.%N)
  "$nnc" "$top/samples/$s.nn" --emit=lib -O2 -o "$work/lib$s.so"
  end=$(date +%s.%N)
  printf 'compile %s.nn -> .so at -O2: %.2f s\n' "$s" "$(calc "$end - $start")"
done

# --- measure ---
declare -A R # R[sample,key]
isa="unknown (no runtime library next to nnc)"
printf '\n%-12s %4s %9s %9s %-10s %9s %8s %6s %8s\n' sample thr "nnc ms" "torch ms" "(config)" "nnc/torch" "GFLOP/s" "%peak" "grad/fwd"
for s in "${samples[@]}"; do
  mflop=$("$nnc" --stats "$top/samples/$s.nn" 2>/dev/null | awk '$1 == "train_step" { print $4; exit }')
  case "$s" in fashion_mlp) steps=200 ;; fashion_cnn) steps=40 ;; char_lstm) steps=10 ;; *) steps=20 ;; esac
  for t in 1 2; do
    line=$("$work/step_bench" "$work/lib$s.so" "$s" "$t" "$steps")
    val() { echo "$line" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'; }
    ms=$(val train_step)
    R[$s,nnc$t]=$ms
    R[$s,gf$t]=$(val grad/forward)
    [ -n "$(val isa)" ] && isa=$(val isa)
    R[$s,gflops$t]=$(calc "$mflop / $ms")
    tms="" cfg=""
    if [ "$torch_ok" = 1 ]; then
      if [ "$t" = 1 ]; then
        tms=$(torch_ms one "$s")
        cfg=""
      else
        for c in passive blas ${omp_blas:+ompblas}; do
          x=$(torch_ms "$c" "$s")
          if [ -n "$x" ] && { [ -z "$tms" ] || [ "$(calc "$x < $tms")" = 1 ]; }; then tms=$x cfg=$c; fi
        done
      fi
    fi
    R[$s,torch$t]=$tms
    ratio="-"
    [ -n "$tms" ] && ratio=$(calc "$ms / $tms")
    share="-"
    [ "${peak[$((t - 1))]}" != "-" ] && share=$(calc "100 * ${R[$s,gflops$t]} / ${peak[$((t - 1))]}")
    printf '%-12s %4s %9.3f %9s %-10s %9s %8.1f %6s %8s\n' "$s" "$t" "$ms" "$(fmt %.3f "$tms")" "${cfg:+($cfg)}" \
      "$(fmt %.2f "$ratio")" "${R[$s,gflops$t]}" "$(fmt %.0f%% "$share")" "${R[$s,gf$t]}"
  done
  nb=$(calc "(${R[$s,nnc1]} < ${R[$s,nnc2]}) ? ${R[$s,nnc1]} : ${R[$s,nnc2]}")
  R[$s,nbest]=$nb
  R[$s,gbest]=$(calc "$mflop / $nb")
  tb="" ratio="-"
  for t in 1 2; do
    x=${R[$s,torch$t]}
    if [ -n "$x" ] && { [ -z "$tb" ] || [ "$(calc "$x < $tb")" = 1 ]; }; then tb=$x; fi
  done
  [ -n "$tb" ] && ratio=$(calc "$nb / $tb")
  R[$s,best]=$ratio
  R[$s,one]="-"
  [ -n "${R[$s,torch1]}" ] && R[$s,one]=$(calc "${R[$s,nnc1]} / ${R[$s,torch1]}")
  printf '%-12s %4s %9.3f %9s %-10s %9s   (best of 1 and 2 threads on each side)\n' "$s" best "$nb" "$(fmt %.3f "$tb")" "" \
    "$(fmt %.2f "$ratio")"
done
echo
echo "ISA: $isa (runtime kernels; generated code: the host's features${NNC_ISA:+ capped at NNC_ISA=$NNC_ISA}); load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the targets of issue 9 ---
mark() { # VALUE OP LIMIT
  if [ "$1" = "-" ] || [ -z "$1" ]; then echo "not measured"
  elif [ "$(calc "$1 $2 $3")" = 1 ]; then echo "met"
  else echo "not met"; fi
}
echo
echo "targets (issue 9), this run:"
printf '%-12s %-26s %-26s %-28s %-22s\n' sample "nnc/torch best-of" "nnc/torch 1 vs 1 (<= 0.8)" "share of 2-thr peak (>= 50%)" "grad/fwd 1 thr (<= 2.5)"
for s in "${samples[@]}"; do
  lim=0.6
  case "$s" in char_rnn | char_lstm) lim=0.5 ;; esac
  share="-"
  [ "${peak[1]}" != "-" ] && share=$(calc "100 * ${R[$s,gbest]} / ${peak[1]}")
  printf '%-12s %-26s %-26s %-28s %-22s\n' "$s" \
    "$(fmt %.2f "${R[$s,best]}") (<= $lim) $(mark "${R[$s,best]}" "<=" $lim)" \
    "$(fmt %.2f "${R[$s,one]}") $(mark "${R[$s,one]}" "<=" 0.8)" \
    "$(fmt %.0f%% "$share") $(mark "$share" ">=" 50)" \
    "${R[$s,gf1]} $(mark "${R[$s,gf1]}" "<=" 2.5)"
done
[ "$torch_ok" = 1 ] || echo "(no PyTorch: the ratios were not measured)"
