"""torch_step.py SAMPLE THREADS [REPEATS] — the PyTorch peer of
bench/step_vs_torch.sh: ms per training step of the same network, batch and
optimizer as samples/SAMPLE.nn (fashion_mlp, fashion_cnn, char_rnn,
char_lstm, tiny_gpt; "mlp" and "cnn" also name the first two), on random
data. A step is what nnc's train_step does: forward, loss, backward, the
optimizer update (and the gradient clipping the train block asks for).

Prints the median over REPEATS (default 15, as bench/step_bench.c) of the
mean time of a batch of steps, after a warm-up. The thread environment
(OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, ...) is step_vs_torch.sh's: see
there why it is set as it is. THREADS goes to torch.set_num_threads.

fashion_mlp  784-256-256-10 ReLU, batch 128, SGD lr 0.05 momentum 0.9
fashion_cnn  conv 3x3 32, pool, conv 3x3 64, pool, 3136-128-10, batch 64, same SGD
others       bench/torch_chars.py
"""
import statistics
import sys
import time

import torch
import torch.nn as nn


def fashion_step(kind):
    torch.manual_seed(0)
    if kind == "mlp":
        B = 128
        m = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        x = torch.rand(B, 784)
    else:
        B = 64
        m = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
        x = torch.rand(B, 1, 28, 28)
    y = torch.randint(0, 10, (B,))
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    lossf = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        lossf(m(x), y).backward()
        opt.step()

    return step


def main():
    name = {"mlp": "fashion_mlp", "cnn": "fashion_cnn"}.get(sys.argv[1], sys.argv[1])
    threads = int(sys.argv[2])
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    torch.set_num_threads(threads)
    if name.startswith("fashion_"):
        step = fashion_step(name[len("fashion_"):])
    else:
        import torch_chars
        step = torch_chars.build(name)
    # warm up for about half a second (allocator, caches, thread pools),
    # then size a batch of steps to about 0.1 s
    t0 = time.perf_counter()
    n = 0
    while n < 5 or time.perf_counter() - t0 < 0.5:
        step()
        n += 1
    inner = max(1, int(0.1 / ((time.perf_counter() - t0) / n)))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            step()
        times.append((time.perf_counter() - t) / inner)
    print(f"{statistics.median(times) * 1e3:.3f}")


if __name__ == "__main__":
    main()
