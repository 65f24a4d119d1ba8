#!/usr/bin/env python3
"""torch_train.py — the PyTorch twin of samples/fashion_mlp.nn and
samples/fashion_cnn.nn, for bench/train_vs_torch.sh.

Same architecture, initialization (he_normal: N(0, 2/fan_in); glorot_uniform:
U(+-sqrt(6/(fan_in+fan_out))); zero biases), optimizer (torch.optim.SGD with
momentum, which nnc's sgd follows), learning-rate schedule (set before every
step: constant, or cosine from lr to 0 over the run's steps, as nnc's
rt_schedule_lr), batch size, epochs, data (Fashion-MNIST / 255, reshuffled
every epoch, the last partial batch dropped) and evaluation (the whole test
set). Prints one line per epoch and a final line:

    epoch 1: test accuracy 85.12%  (12.3 s)
    done: 5 epochs in 61.2 s, test accuracy 88.40%

Usage: torch_train.py mlp|cnn [--epochs N] [--lr X] [--batch B]
       [--schedule constant|cosine] [--threads N] [--seed N] [--data DIR]
"""
import argparse
import gzip
import math
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    rank = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def he_normal(shape, fan_in):
    return torch.randn(shape) * math.sqrt(2.0 / fan_in)


def glorot_uniform(shape, fan_in, fan_out):
    lim = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(shape) * 2 - 1) * lim


class MLP(torch.nn.Module):
    """784-256-256-10, ReLU (samples/fashion_mlp.nn); weights stored [in, out] like nnc."""

    def __init__(self, h=256):
        super().__init__()
        P = torch.nn.Parameter
        self.W1, self.b1 = P(he_normal((784, h), 784)), P(torch.zeros(h))
        self.W2, self.b2 = P(he_normal((h, h), h)), P(torch.zeros(h))
        self.W3, self.b3 = P(glorot_uniform((h, 10), h, 10)), P(torch.zeros(10))

    def forward(self, x):
        x = x.reshape(x.shape[0], 784)
        h = F.relu(x @ self.W1 + self.b1)
        h = F.relu(h @ self.W2 + self.b2)
        return h @ self.W3 + self.b3


class CNN(torch.nn.Module):
    """conv3x3 1->32, ReLU, maxpool 2; conv3x3 32->64, ReLU, maxpool 2;
    dense 3136 -> 128 -> 10 (samples/fashion_cnn.nn)."""

    def __init__(self, c1=32, c2=64, hid=128):
        super().__init__()
        P = torch.nn.Parameter
        self.c1w, self.c1b = P(he_normal((c1, 1, 3, 3), 9)), P(torch.zeros(c1))
        self.c2w, self.c2b = P(he_normal((c2, c1, 3, 3), c1 * 9)), P(torch.zeros(c2))
        self.W1, self.b1 = P(he_normal((c2 * 49, hid), c2 * 49)), P(torch.zeros(hid))
        self.W2, self.b2 = P(glorot_uniform((hid, 10), hid, 10)), P(torch.zeros(10))

    def forward(self, x):
        x = x.reshape(x.shape[0], 1, 28, 28)
        h = F.max_pool2d(F.relu(F.conv2d(x, self.c1w, self.c1b, padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, self.c2w, self.c2b, padding=1)), 2)
        h = F.relu(h.flatten(1) @ self.W1 + self.b1)
        return h @ self.W2 + self.b2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["mlp", "cnn"])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--schedule", choices=["constant", "cosine"], default="cosine")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    batch = a.batch or (128 if a.model == "mlp" else 64)
    xs = torch.from_numpy(read_idx(f"{a.data}/train-images-idx3-ubyte.gz").astype(np.float32) / 255)
    ys = torch.from_numpy(read_idx(f"{a.data}/train-labels-idx1-ubyte.gz").astype(np.int64))
    xt = torch.from_numpy(read_idx(f"{a.data}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255)
    yt = torch.from_numpy(read_idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model = MLP() if a.model == "mlp" else CNN()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    spe = len(xs) // batch
    total = spe * a.epochs
    t0 = time.time()
    acc = 0.0
    step = 0
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xs))
        for i in range(spe):
            lr = a.lr
            if a.schedule == "cosine":
                lr = 0.5 * a.lr * (1 + math.cos(math.pi * min(1.0, step / max(1, total - 1))))
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(xt[j:j + 1000]).argmax(1) == yt[j:j + 1000]).sum())
                          for j in range(0, len(xt), 1000))
        acc = 100.0 * correct / len(xt)
        print(f"epoch {epoch + 1}: test accuracy {acc:.2f}%  ({time.time() - t0:.1f} s)", flush=True)
    print(f"done: {a.epochs} epochs in {time.time() - t0:.1f} s, test accuracy {acc:.2f}%", flush=True)


if __name__ == "__main__":
    main()
