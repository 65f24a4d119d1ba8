#!/usr/bin/env bash
# deriv_vs_torch.sh [path/to/nnc] [SAMPLE...] — input gradients, a gradient
# penalty and a Hessian-vector product of every sample (fashion_mlp,
# fashion_cnn; char_rnn, char_lstm and tiny_gpt with respect to their
# embedding table), written in .nn, against PyTorch autograd
# (bench/deriv_vs_torch.py; the character models' peers are
# bench/torch_chars.py's modules). Skips (status 0, or $NNC_SKIP_STATUS:
# ctest's oracle/deriv_vs_torch sets 77) when /usr/bin/python3 cannot
# import torch and numpy.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
nnc="${1:-$top/build/compiler/nnc}"
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "deriv_vs_torch: skipped (/usr/bin/python3 cannot import torch and numpy)"
  exit "${NNC_SKIP_STATUS:-0}"
fi
exec /usr/bin/python3 "$top/bench/deriv_vs_torch.py" "$nnc" "${@:2}"
