#!/bin/sh
# kernels.sh — benchmark the runtime kernels (GEMM, conv, max pooling) on the
# MLP and CNN reference shapes against PyTorch, 1 and 2 threads.
#
# Compiles bench/bench_kernels.c with gcc against the runtime sources (the
# way the runtime library is built: -O3, no -march), runs it, and, when
# `/usr/bin/python3 -c 'import torch'` works, times the same ops in PyTorch
# in the same run:
#   GEMM   torch.mm on the same layouts (transposes as views) — the path
#          nn.Linear takes (BLAS); for reference also oneDNN's inner product
#          (torch._C._nn.mkldnn_linear on pre-transposed weights), "dnnl"
#   conv   F.conv2d and aten.convolution_backward (what autograd calls)
#          with only the input or only the weight gradient requested
#   pool   aten.max_pool2d_with_indices and its backward
# PyTorch runs with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset, glibc malloc
# tuned to keep memory (no mmap/trim churn), OMP/OpenBLAS threads = n.
#
#   bench/kernels.sh [MIN_SECONDS_PER_OP]        (default 0.25)
# Environment: NNC_PEER_BLAS_DIR=dir puts dir first on the peer's
# LD_LIBRARY_PATH (e.g. an unpacked OpenBLAS libblas.so.3 to compare with
# when the system BLAS is the reference one); NNC_ISA=avx2|c forces our ISA;
# NNC_BENCH_CLOCK=cpu times the 1-thread runs of both sides in the running
# thread's CPU time (for a shared, loaded machine; 2 threads stay wall-clock).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIN=${1:-0.25}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnc-kernels.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

RT="$ROOT/runtime"
gcc -std=c11 -O3 -D_GNU_SOURCE -fvisibility=hidden -I"$RT" "$ROOT/bench/bench_kernels.c" \
  "$RT/rt_core.c" "$RT/rt_threads.c" "$RT/rt_gemm.c" "$RT/rt_conv.c" "$RT/rt_pool.c" \
  -lm -lpthread -o "$WORK/bench_kernels"

cat >"$WORK/peer.py" <<'EOF'
import sys, time, torch
import torch.nn.functional as F
nt, min_time = int(sys.argv[1]), float(sys.argv[2])
clock = time.thread_time if len(sys.argv) > 3 and sys.argv[3] == "cpu" and nt == 1 else time.perf_counter
torch.set_num_threads(nt)
torch.manual_seed(0)
# key, kind, (M, N, K, transA, transB) or (n, c, h, w, o) -- as in bench_kernels.c
ops = [
    ("mlp.l1.fwd", "gemm", (128, 256, 784, 0, 0)), ("mlp.l1.dW", "gemm", (784, 256, 128, 1, 0)),
    ("mlp.l1.dX", "gemm", (128, 784, 256, 0, 1)), ("mlp.l2.fwd", "gemm", (128, 256, 256, 0, 0)),
    ("mlp.l2.dW", "gemm", (256, 256, 128, 1, 0)), ("mlp.l2.dX", "gemm", (128, 256, 256, 0, 1)),
    ("mlp.l3.fwd", "gemm", (128, 10, 256, 0, 0)), ("mlp.l3.dW", "gemm", (256, 10, 128, 1, 0)),
    ("mlp.l3.dX", "gemm", (128, 256, 10, 0, 1)),
    ("cnn.conv1.fwd", "conv_fwd", (64, 1, 28, 28, 32)),
    ("cnn.conv1.bwd_data", "conv_bwd_data", (64, 1, 28, 28, 32)),
    ("cnn.conv1.bwd_filter", "conv_bwd_filter", (64, 1, 28, 28, 32)),
    ("cnn.pool1.fwd", "pool_fwd", (64, 32, 28, 28, 0)), ("cnn.pool1.bwd", "pool_bwd", (64, 32, 28, 28, 0)),
    ("cnn.conv2.fwd", "conv_fwd", (64, 32, 14, 14, 64)),
    ("cnn.conv2.bwd_data", "conv_bwd_data", (64, 32, 14, 14, 64)),
    ("cnn.conv2.bwd_filter", "conv_bwd_filter", (64, 32, 14, 14, 64)),
    ("cnn.pool2.fwd", "pool_fwd", (64, 64, 14, 14, 0)), ("cnn.pool2.bwd", "pool_bwd", (64, 64, 14, 14, 0)),
    ("cnn.d1.fwd", "gemm", (64, 128, 3136, 0, 0)), ("cnn.d1.dW", "gemm", (3136, 128, 64, 1, 0)),
    ("cnn.d1.dX", "gemm", (64, 3136, 128, 0, 1)), ("cnn.d2.fwd", "gemm", (64, 10, 128, 0, 0)),
    ("cnn.d2.dW", "gemm", (128, 10, 64, 1, 0)), ("cnn.d2.dX", "gemm", (64, 128, 10, 0, 1)),
    ("seq.rnn.Wy.fwd", "gemm", (2048, 96, 256, 0, 0)), ("seq.rnn.Wy.dX", "gemm", (2048, 256, 96, 0, 1)),
    ("seq.rnn.Wy.dW", "gemm", (256, 96, 2048, 1, 0)), ("seq.rnn.Wh.dW", "gemm", (256, 256, 2048, 1, 0)),
    ("seq.gpt.qkv.fwd", "gemm", (1024, 384, 128, 0, 0)), ("seq.gpt.qkv.dW", "gemm", (128, 384, 1024, 1, 0)),
    ("seq.gpt.fc.dX", "gemm", (1024, 128, 512, 0, 1)), ("seq.gpt.fc.dW", "gemm", (128, 512, 1024, 1, 0)),
    ("seq.gpt.proj.dW", "gemm", (512, 128, 1024, 1, 0)),
]

def bench(fn):
    for _ in range(3): fn()
    t0 = clock(); reps = 0
    while clock() - t0 < 0.02: fn(); reps += 1
    n = int(min_time / 5 / ((clock() - t0) / reps)) + 1
    best = 1e30
    for _ in range(5):
        s = clock()
        for _ in range(n): fn()
        best = min(best, (clock() - s) / n)
    return best

def show(key, sec, flops):
    print("%-22s %d %9.4f %8.1f" % (key, nt, sec * 1e3, flops / sec * 1e-9 if flops else 0.0), flush=True)

with torch.no_grad():
    for key, kind, d in ops:
        if kind == "gemm":
            M, N, K, ta, tb = d
            A = torch.randn(K, M).t() if ta else torch.randn(M, K)
            B = torch.randn(N, K).t() if tb else torch.randn(K, N)
            show(key, bench(lambda: torch.mm(A, B)), 2.0 * M * N * K)
            X, Wt = A.contiguous().to_mkldnn(), B.t().contiguous().to_mkldnn()
            show(key + "@dnnl", bench(lambda: torch._C._nn.mkldnn_linear(X, Wt, None)), 2.0 * M * N * K)
            continue
        n, c, h, w, o = d
        if kind.startswith("pool"):
            x = torch.randn(n, c, h, w)
            y, idx = torch.ops.aten.max_pool2d_with_indices(x, [2, 2], [2, 2])
            if kind == "pool_fwd":
                show(key, bench(lambda: torch.ops.aten.max_pool2d_with_indices(x, [2, 2], [2, 2])), 0)
            else:
                g = torch.randn_like(y)
                show(key, bench(lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                    g, x, [2, 2], [2, 2], [0, 0], [1, 1], False, idx)), 0)
            continue
        x, wt, g = torch.randn(n, c, h, w), torch.randn(o, c, 3, 3), torch.randn(n, o, h, w)
        flops = 2.0 * n * o * h * w * c * 9
        if kind == "conv_fwd":
            fn = lambda: F.conv2d(x, wt, padding=1)
        else:
            mask = [True, False, False] if kind == "conv_bwd_data" else [False, True, False]
            fn = lambda: torch.ops.aten.convolution_backward(
                g, x, wt, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)
        show(key, bench(fn), flops)

blas = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() and ".so" in l})
print("# torch BLAS: " + (", ".join(blas) or "unknown"))
EOF

have_torch=0
if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then have_torch=1; fi

CLOCK=${NNC_BENCH_CLOCK:-wall}
for t in 1 2; do
  "$WORK/bench_kernels" -t "$t" -m "$MIN" -c "$CLOCK" ${NNC_ISA:+-i "$NNC_ISA"} >>"$WORK/ours.txt"
  if [ "$have_torch" = 1 ]; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \
      MALLOC_TOP_PAD_=67108864 OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" \
      LD_LIBRARY_PATH="${NNC_PEER_BLAS_DIR:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
      /usr/bin/python3 "$WORK/peer.py" "$t" "$MIN" "$CLOCK" >>"$WORK/torch.txt"
  fi
done

grep '^# isa' "$WORK/ours.txt" | head -1 | sed 's/^# isa/# nnc kernels ISA:/'
echo "# clock: 1 thread $CLOCK, 2 threads wall; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$have_torch" = 1 ]; then
  grep '^# torch' "$WORK/torch.txt" | head -1
  /usr/bin/python3 -c 'import torch; print("# torch", torch.__version__)'
else
  echo "# PyTorch not available: our numbers only"
fi

# Join on (key, threads). speedup = torch ms / our ms (> 1: we are faster).
awk -v have_torch="$have_torch" '
  FNR == 1 { file++ }
  /^#/ { next }
  file == 1 { ms[$1 " " $2] = $3; gf[$1 " " $2] = $4; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
  file == 2 { tms[$1 " " $2] = $3; tgf[$1 " " $2] = $4 }
  function mlp_step(k) { return k ~ /^mlp\.l[123]\.(fwd|dW)$/ || k ~ /^mlp\.l[23]\.dX$/ }
  function cnn_step(k) { return k ~ /^cnn\./ && k != "cnn.conv1.bwd_data" }
  END {
    printf "%-22s %3s %10s %10s %10s %10s %8s %10s\n", "op", "thr", "ours ms", "ours GF/s", "torch ms", "torch GF/s", "speedup", "dnnl GF/s"
    for (t = 1; t <= 2; t++) {
      for (i = 0; i < n; i++) {
        k = order[i]; id = k " " t
        if (!(id in ms)) continue
        if (have_torch && (id in tms))
          printf "%-22s %3d %10.4f %10.1f %10.4f %10.1f %8.2f %10s\n", k, t, ms[id], gf[id], tms[id], tgf[id], tms[id] / ms[id], (k "@dnnl " t) in tgf ? sprintf("%.1f", tgf[k "@dnnl " t]) : "-"
        else
          printf "%-22s %3d %10.4f %10.1f\n", k, t, ms[id], gf[id]
        if (mlp_step(k)) { mo[t] += ms[id]; mt[t] += tms[id]; md[t] += ((k "@dnnl " t) in tms) ? tms[k "@dnnl " t] : 0 }
        if (cnn_step(k)) { co[t] += ms[id]; ct[t] += tms[id] }
      }
      print ""
    }
    print "Training-step kernel totals (MLP: fwd+dW of 3 layers, dX of layers 2-3;"
    print "CNN: every cnn.* op except conv1.bwd_data, which training does not need):"
    for (t = 1; t <= 2; t++) {
      if (have_torch) {
        printf "  MLP %d thread(s): ours %.3f ms, torch.mm %.3f ms (speedup %.2f), oneDNN linear %.3f ms (speedup %.2f)\n", t, mo[t], mt[t], mt[t] / mo[t], md[t], md[t] / mo[t]
        printf "  CNN %d thread(s): ours %.3f ms, torch %.3f ms (speedup %.2f)\n", t, co[t], ct[t], ct[t] / co[t]
      } else {
        printf "  MLP %d thread(s): ours %.3f ms\n  CNN %d thread(s): ours %.3f ms\n", t, mo[t], t, co[t]
      }
    }
  }' "$WORK/ours.txt" "$( [ "$have_torch" = 1 ] && echo "$WORK/torch.txt" || echo /dev/null )"
