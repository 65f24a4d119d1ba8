#!/usr/bin/env bash
# deps.sh — install the Debian packages nnc needs, if any are missing.
# Run as root (or with sudo available). Safe to run again: it does nothing
# when everything is present.
set -euo pipefail

# Required: the compiler toolchain, LLVM 19, CUnit, zlib, the data sets.
# Optional at build time but installed for the tests: Open MPI (data-parallel
# training programs), Graphviz (--emit=dot is checked with dot -Tsvg),
# NumPy (the --emit=python module's tests), man-db (man nnc).
PKGS=(build-essential cmake flex bison llvm-19-dev clang-19 libclang-rt-19-dev
      libcunit1-dev zlib1g-dev dataset-fashion-mnist fortunes
      libopenmpi-dev openmpi-bin graphviz python3-numpy man-db)

missing=()
for p in "${PKGS[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
