"""torch_chars.py — PyTorch peers of the character models, for
bench/torch_step.py: the same shapes as samples/char_rnn.nn,
samples/char_lstm.nn and samples/tiny_gpt.nn, written the way a PyTorch user
would write them fast on a CPU.

char_rnn   nn.Embedding(96, 64) -> nn.RNN(64, 256, tanh) -> nn.Linear(256, 96)
char_lstm  nn.Embedding(96, 64) -> nn.LSTM(64, 256) -> nn.Linear(256, 96)
           (batch 32, T 64; Adam lr 0.002, global grad-norm clipping 1.0)
tiny_gpt   token + position embeddings (96 x 128, 64 x 128), 2 pre-layernorm
           blocks of causal 4-head self-attention (fused qkv projection,
           scores masked to -1e9, softmax) and a GELU (tanh) MLP 128-512-128,
           a final layernorm, output through the tied token embedding
           (batch 16, T 64; AdamW lr 0.001, weight decay 0.01, clipping 1.0)

The recurrent peers use PyTorch's fused modules (one call for the whole
sequence: the input projection of all steps is one GEMM, as in nnc's
samples) and run time-major ([T, B]), their native layout, so no transpose
is spent; the loss is the mean cross-entropy over all B*T positions, as
cross_entropy over [B, T, V] in nnc. nn.RNN/nn.LSTM carry two bias vectors
(b_ih, b_hh) where the samples carry one (and the LSTM a forget-gate bias):
H-sized additions, nothing against the GEMMs. The learning-rate schedule is
not applied: nnc's train_step takes the rate as an argument (the training
driver computes it), so neither side times it.

build(name) returns a function doing one training step (zero the
gradients, forward, loss, backward, clip, optimizer step).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

V = 96  # vocabulary of every character sample


class CharRNN(nn.Module):
    def __init__(self, cell, E=64, H=256):
        super().__init__()
        self.emb = nn.Embedding(V, E)
        self.rnn = nn.RNN(E, H) if cell == "rnn" else nn.LSTM(E, H)
        self.out = nn.Linear(H, V)

    def forward(self, x):  # x: [T, B] -> logits [T, B, V]
        hs, _ = self.rnn(self.emb(x))
        return self.out(hs)


class Block(nn.Module):
    def __init__(self, D, NH):
        super().__init__()
        self.NH = NH
        self.ln1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.o = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D)
        self.fc = nn.Linear(D, 4 * D)
        self.proj = nn.Linear(4 * D, D)

    def forward(self, x, mask):
        B, T, D = x.shape
        hd = D // self.NH
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q, k, v = (z.view(B, T, self.NH, hd).transpose(1, 2) for z in (q, k, v))
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))   # [B, NH, T, T]
        att = torch.softmax(s.masked_fill(mask, -1e9), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(y)
        return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class TinyGPT(nn.Module):
    def __init__(self, T=64, D=128, NH=4, L=2):
        super().__init__()
        self.wte = nn.Parameter(torch.randn(V, D) * 0.02)
        self.wpe = nn.Parameter(torch.randn(T, D) * 0.02)
        self.blocks = nn.ModuleList(Block(D, NH) for _ in range(L))
        self.lnf = nn.LayerNorm(D)
        self.register_buffer("mask", ~torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, idx):  # idx: [B, T] -> logits [B, T, V]
        x = F.embedding(idx, self.wte) + self.wpe
        for b in self.blocks:
            x = b(x, self.mask)
        return self.lnf(x) @ self.wte.t()


def build(name, foreach=None):
    """One training step of the peer of samples/NAME.nn, on random data."""
    torch.manual_seed(0)
    if name in ("char_rnn", "char_lstm"):
        B, T = 32, 64
        m = CharRNN("rnn" if name == "char_rnn" else "lstm")
        x = torch.randint(0, V, (T, B))
        y = torch.randint(0, V, (T, B))
        opt = torch.optim.Adam(m.parameters(), lr=0.002, foreach=foreach)
    elif name == "tiny_gpt":
        B, T = 16, 64
        m = TinyGPT()
        x = torch.randint(0, V, (B, T))
        y = torch.randint(0, V, (B, T))
        opt = torch.optim.AdamW(m.parameters(), lr=0.001, weight_decay=0.01, foreach=foreach)
    else:
        raise ValueError(name)
    params = list(m.parameters())

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(x).reshape(-1, V), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    return step
