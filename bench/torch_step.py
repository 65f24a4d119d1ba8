# torch_step.py MODEL THREADS — the PyTorch peer of bench/step_vs_torch.sh:
# ms per training step (forward + backward + SGD momentum update) of the
# same MLP (batch 128) or CNN (batch 64) as samples/fashion_{mlp,cnn}.nn,
# best of 5 repeats after a warm-up.
import torch, time, sys
import torch.nn as nn
model_kind = sys.argv[1]; threads = int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
if model_kind == "mlp":
    B = 128
    m = nn.Sequential(nn.Linear(784,256), nn.ReLU(), nn.Linear(256,256), nn.ReLU(), nn.Linear(256,10))
    x = torch.rand(B, 784); y = torch.randint(0, 10, (B,))
else:
    B = 64
    m = nn.Sequential(nn.Conv2d(1,32,3,padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32,64,3,padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136,128), nn.ReLU(), nn.Linear(128,10))
    x = torch.rand(B, 1, 28, 28); y = torch.randint(0, 10, (B,))
opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
lossf = nn.CrossEntropyLoss()
def step():
    opt.zero_grad(set_to_none=True)
    l = lossf(m(x), y); l.backward(); opt.step()
for _ in range(20): step()
n = 200 if model_kind == "mlp" else 50
best = 1e9
for rep in range(5):
    t = time.perf_counter()
    for _ in range(n): step()
    best = min(best, (time.perf_counter() - t) / n)
print(f"{best*1e3:.3f}")
