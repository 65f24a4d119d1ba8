#!/usr/bin/env bash
# peer_blas.sh — sourced by the benchmarks before they time PyTorch.
#
# Debian's python3-torch calls the system BLAS (libblas.so.3). With only the
# reference (netlib) BLAS installed, its matrix products run at about
# 1-6 GFLOP/s here, which would make any comparison meaningless. "PyTorch at
# its best on this machine" has OpenBLAS: install Debian's
# libopenblas0-pthread when it is missing (it becomes libblas.so.3 through
# update-alternatives). Needs root; otherwise says what the peer will use.
#
# peer_blas_openmp additionally provides Debian's OpenMP build of OpenBLAS
# (libopenblas0-openmp), which runs its GEMMs on PyTorch's own OpenMP
# threads instead of a second pool of pthreads: bench/step_vs_torch.sh tries
# it as one of the peer's 2-thread configurations (through LD_LIBRARY_PATH;
# its update-alternatives priority, 95, is below the pthread build's 100, so
# installing it does not change the system's libblas.so.3). Prints the
# directory holding its libblas.so.3, or nothing when it is unavailable.
peer_blas() {
  if dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed"; then
    echo "peer BLAS: OpenBLAS (libopenblas0-pthread)"
  elif [ "$(id -u)" = 0 ]; then
    echo "peer BLAS: installing OpenBLAS for PyTorch (libopenblas0-pthread)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libopenblas0-pthread >/dev/null 2>&1 ||
      echo "peer BLAS: could not install OpenBLAS: PyTorch uses the reference BLAS (slow)"
  else
    echo "peer BLAS: not root, OpenBLAS missing: PyTorch uses the reference BLAS (slow)"
  fi
}

peer_blas_openmp() {
  local dir="${NNC_PEER_OMP_BLAS_DIR:-/usr/lib/$(uname -m)-linux-gnu/openblas-openmp}"
  if [ ! -e "$dir/libblas.so.3" ] && [ -z "${NNC_PEER_OMP_BLAS_DIR:-}" ] && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libopenblas0-openmp >/dev/null 2>&1 || true
  fi
  if [ -e "$dir/libblas.so.3" ]; then echo "$dir"; fi
}
