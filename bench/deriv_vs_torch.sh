#!/usr/bin/env bash
# deriv_vs_torch.sh [path/to/nnc] — input gradients, a gradient penalty and
# a Hessian-vector product of fashion_mlp and fashion_cnn, written in .nn,
# against PyTorch autograd (bench/deriv_vs_torch.py). Skips (status 0) when
# /usr/bin/python3 cannot import torch and numpy.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
nnc="${1:-$top/build/compiler/nnc}"
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "deriv_vs_torch: skipped (/usr/bin/python3 cannot import torch and numpy)"
  exit 0
fi
exec /usr/bin/python3 "$top/bench/deriv_vs_torch.py" "$nnc"
