#!/usr/bin/env bash
# peer_blas.sh — sourced by the benchmarks before they time PyTorch.
#
# Debian's python3-torch calls the system BLAS (libblas.so.3). With only the
# reference (netlib) BLAS installed, its matrix products run at about
# 1-6 GFLOP/s here, which would make any comparison meaningless. "PyTorch at
# its best on this machine" has OpenBLAS: install Debian's
# libopenblas0-pthread when it is missing (it becomes libblas.so.3 through
# update-alternatives). Needs root; otherwise says what the peer will use.
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
