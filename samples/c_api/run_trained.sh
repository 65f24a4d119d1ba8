#!/usr/bin/env bash
# run_trained.sh NNC CLASSIFY MODEL.nn — the ctest c_api_classify_trained:
# train briefly with the training program nnc makes from MODEL.nn, then
# classify the test set with that checkpoint through the C library. The
# checkpoint must load, the accuracy must be that of a trained model, and it
# must be exactly what the training program measured on the same test set.
set -euo pipefail
nnc=$1 classify=$2 model=$3
data=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$data/t10k-images-idx3-ubyte.gz" ] || [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
  echo "Fashion-MNIST not found in $data: skipped"
  exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$nnc" "$model" --emit=exe -o train
./train --epochs 1 --limit 12800 --checkpoint mlp.ckpt.safetensors --progress none -q | tee train.log
out=$("$classify" mlp.ckpt.safetensors)
echo "$out"
correct=$(sed -n 's/^accuracy: [0-9.]*% (\([0-9]*\) of 10000)$/\1/p' <<<"$out")
trained=$(sed -n 's|.*(\([0-9]*\)/10000).*|\1|p' train.log | tail -1)
if [ -z "$correct" ] || [ "$correct" -lt 7000 ]; then
  echo "FAIL: classify got ${correct:-no} correct of 10000 with the checkpoint; a trained model gets over 7000"
  exit 1
fi
if [ "$correct" != "$trained" ]; then
  echo "FAIL: classify got $correct correct, the training program measured ${trained:-nothing} on the same test set"
  exit 1
fi
