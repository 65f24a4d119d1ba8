"""deriv_vs_torch.py NNC — derivatives written in .nn against PyTorch
autograd (torch.autograd.grad(..., create_graph=True)), on every sample at
small sizes (-D), with the same random parameters and data:

  input gradient   nnc eval --fn loss --grad [--wrt x]  vs  grad(loss, X)
  gradient penalty nnc eval --fn gp --grad (parameters) vs  grad(loss + 0.1 |grad_X loss|^2, params)
  HVP              nnc eval --fn hvp                    vs  grad(grad(loss, X, create_graph), X, v)

X is the float input x of fashion_mlp and fashion_cnn; the character
models read integer tokens, so their X is the embedding table the tokens
index (emb; tiny_gpt's tied wte), a parameter: `wrt = [emb]`. gp and hvp
are added to a copy of the sample (the sample is not changed):
  fn gp(x, y) -> f32 { let g = grad(loss, wrt = [X])(x, y); return loss(x, y) + 0.1 * sum(g * g) }
  fn hvp(x, y, v) -> X { let (_g, hv) = jvp(grad(loss, wrt = [X]), wrt = [X], tangents = [v])(x, y); return hv }
The PyTorch side of the character models is bench/torch_chars.py's peers
(nn.RNN, nn.LSTM, the GPT blocks) at the same small sizes, their weights
made from nnc's parameters (transposed; the LSTM's gates reordered from
nnc's i, f, o, g to PyTorch's i, f, g, o, its forget-gate bias bf added to
b_ih; b_hh zero), so autograd differentiates through PyTorch's own modules.
Both in f64 (nnc's interpreter: eval --f64 runs there; results stored as
the model's f32) and f32 (nnc's compiled code, JIT) against torch in f64. Prints the worst
relative error of each, and exits 1 when one is above its tolerance
(f64 1e-6: the f32 storage of the results; f32 1e-3).

  python3 bench/deriv_vs_torch.py NNC [SAMPLE...]   (default: every sample)"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import stateless

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_chars  # noqa: E402

torch.set_default_dtype(torch.float64)


# defs: the -D sizes; x: the shape of x (float images, or tokens); xt, yt:
# the types of x and y; wrt: X; wt: X's type when X is not x; xname: the
# name of loss's first argument when it is not x
SAMPLES = {
    "fashion_mlp": {"defs": {"B": 4, "H": 8}, "x": lambda d: (d["B"], 784), "xt": "f32[B, 784]", "yt": ["B"], "wrt": "x"},
    "fashion_cnn": {"defs": {"B": 2, "C1": 2, "C2": 3, "HID": 4}, "x": lambda d: (d["B"], 1, 28, 28),
                    "xt": "f32[B, 1, 28, 28]", "yt": ["B"], "wrt": "x"},
    "char_rnn": {"defs": {"B": 2, "T": 5, "E": 3, "H": 4}, "x": lambda d: (d["B"], d["T"]),
                 "xt": "i32[B, T]", "yt": ["B", "T"], "wrt": "emb", "wt": "f32[V, E]"},
    "char_lstm": {"defs": {"B": 2, "T": 5, "E": 3, "H": 4}, "x": lambda d: (d["B"], d["T"]),
                  "xt": "i32[B, T]", "yt": ["B", "T"], "wrt": "emb", "wt": "f32[V, E]"},
    "tiny_gpt": {"defs": {"B": 2, "T": 4, "D": 8, "NH": 2, "L": 2}, "x": lambda d: (d["B"], d["T"]),
                 "xt": "i32[B, T]", "yt": ["B", "T"], "wrt": "wte", "wt": "f32[V, D]", "xname": "idx"},
}


def forward_fashion(name, p, x):
    if name == "fashion_mlp":
        h1 = F.relu(x @ p["W1"] + p["b1"])
        h2 = F.relu(h1 @ p["W2"] + p["b2"])
        return h2 @ p["W3"] + p["b3"]
    h1 = F.max_pool2d(F.relu(F.conv2d(x, p["c1w"], p["c1b"], padding=1)), 2)
    h2 = F.max_pool2d(F.relu(F.conv2d(h1, p["c2w"], p["c2b"], padding=1)), 2)
    h3 = F.relu(h2.flatten(1) @ p["W1"] + p["b1"])
    return h3 @ p["W2"] + p["b2"]


def peer(name, d):
    """torch_chars' module for NAME at the sizes d, and a function mapping
    nnc's parameters to its weights (a state dict of expressions in them)."""
    if name == "tiny_gpt":
        m = torch_chars.TinyGPT(T=d["T"], D=d["D"], NH=d["NH"], L=d["L"])

        def weights(p):
            w = {"wte": p["wte"], "wpe": p["wpe"], "lnf.weight": p["lnf_g"], "lnf.bias": p["lnf_b"]}
            for lay in range(d["L"]):
                b = f"blocks.{lay}."
                for mod, wn, bn in (("ln1", "ln1_g", "ln1_b"), ("ln2", "ln2_g", "ln2_b")):
                    w[b + mod + ".weight"], w[b + mod + ".bias"] = p[wn][lay], p[bn][lay]
                for mod, pn in (("qkv", "qkv"), ("o", "o"), ("fc", "fc"), ("proj", "proj")):
                    w[b + mod + ".weight"], w[b + mod + ".bias"] = p["w_" + pn][lay].t(), p["b_" + pn][lay]
            return w
        return m, weights
    lstm = name == "char_lstm"
    m = torch_chars.CharRNN("lstm" if lstm else "rnn", E=d["E"], H=d["H"])
    H = d["H"]

    def weights(p):
        wx, wh, b = (p["Wx"], p["Wh"], p["b"]) if lstm else (p["Wx"], p["Wh"], p["bh"])
        if lstm:  # nnc's gates i, f, o, g -> PyTorch's i, f, g, o; bf joins the f gate's bias
            order = lambda z: torch.cat([z[..., 0:H], z[..., H:2 * H], z[..., 3 * H:4 * H], z[..., 2 * H:3 * H]], -1)
            wx, wh = order(wx), order(wh)
            b = order(b + torch.cat([torch.zeros(H), p["bf"], torch.zeros(2 * H)]))
        return {"emb.weight": p["emb"], "rnn.weight_ih_l0": wx.t(), "rnn.weight_hh_l0": wh.t(),
                "rnn.bias_ih_l0": b, "rnn.bias_hh_l0": torch.zeros_like(b),
                "out.weight": p["Wy"].t(), "out.bias": p["by"]}
    return m, weights


def forward_chars(name, d, p, x):
    """logits [B, T, V] of the peer for tokens x [B, T]"""
    m, weights = peer(name, d)
    w = weights(p)
    if name == "tiny_gpt":
        return stateless.functional_call(m, w, (x,))
    # nn.RNN/nn.LSTM read their flat weight list, not the module's attributes
    m.rnn._flat_weights = [w["rnn." + n] for n in m.rnn._flat_weights_names]
    return stateless.functional_call(m, w, (x.t(),)).transpose(0, 1)


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for k, a in tensors.items():
        b = np.ascontiguousarray(a, dtype=np.float64).tobytes()
        header[k] = {"dtype": "F64", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    dt = {"F32": np.float32, "F64": np.float64, "I32": np.int32}
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt[v["dtype"]]).reshape(v["shape"]).astype(np.float64)
    return out


def with_fns(src, s):
    lines = src.split("\n")
    last = max(i for i, l in enumerate(lines) if l.startswith("}"))
    xt, w = s["xt"], s["wrt"]
    wt = s.get("wt", xt)
    add = [f"  fn gp(x: {xt}, y: i32[{', '.join(s['yt'])}]) -> f32 {{",
           f"    let g = grad(loss, wrt = [{w}])(x, y)",
           "    return loss(x, y) + 0.1 * sum(g * g)", "  }",
           f"  fn hvp(x: {xt}, y: i32[{', '.join(s['yt'])}], v: {wt}) -> {wt} {{",
           f"    let (_g, hv) = jvp(grad(loss, wrt = [{w}]), wrt = [{w}], tangents = [v])(x, y)",
           "    return hv", "  }"]
    return "\n".join(lines[:last] + add + lines[last:])


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def main():
    nnc = sys.argv[1]
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    only = sys.argv[2:]
    bad = 0
    with tempfile.TemporaryDirectory() as work:
        for name, s in SAMPLES.items():
            if only and name not in only:
                continue
            model = os.path.join(work, name + ".nn")
            with open(model, "w") as f:
                f.write(with_fns(open(os.path.join(top, "samples", name + ".nn")).read(), s))
            d = s["defs"]
            defs = []
            for k, v in d.items():
                defs += ["-D", f"{k}={v}"]
            rng = np.random.default_rng(1)
            tokens = s["xt"].startswith("i32")
            if tokens:
                x = rng.integers(0, torch_chars.V, s["x"](d)).astype(np.int32)
                y = rng.integers(0, torch_chars.V, s["x"](d)).astype(np.int32)
            else:
                x = rng.uniform(0, 1, s["x"](d))
                y = rng.integers(0, 10, d["B"]).astype(np.int32)
            xname = s.get("xname", "x")
            for k, a in (("x", x), ("y", y)):
                np.save(os.path.join(work, k + ".npy"), a)
            ins = ["--input", f"x={work}/x.npy", "--input", f"y={work}/y.npy"]
            loss_ins = ["--input", f"{xname}={work}/x.npy", "--input", f"y={work}/y.npy"]

            def ev(fn, extra, out, mode):
                cmd = [nnc, "eval", model, "--fn", fn, *defs, *extra, "-o", out]
                cmd += ["--f64"] if mode == "f64" else []
                subprocess.run(cmd, check=True)
                return read_st(out)
            # the parameters' names and shapes, then random values for both sides
            shapes = ev("loss", ["--grad", "--seed", "0", *loss_ins], f"{work}/shapes.st", "f64")
            params = {k[:-5]: rng.normal(0, 0.3, a.shape) for k, a in shapes.items() if k.endswith(".grad")}
            write_st(f"{work}/p.st", params)
            pt = {k: torch.tensor(a, requires_grad=True) for k, a in params.items()}
            if tokens:
                X = pt[s["wrt"]]
                v = rng.uniform(-1, 1, X.shape)
                logits = forward_chars(name, d, pt, torch.tensor(x, dtype=torch.long))
                loss = F.cross_entropy(logits.reshape(-1, torch_chars.V), torch.tensor(y, dtype=torch.long).reshape(-1))
            else:
                X = torch.tensor(x, requires_grad=True)
                v = rng.uniform(-1, 1, x.shape)
                loss = F.cross_entropy(forward_fashion(name, pt, X), torch.tensor(y, dtype=torch.long))
            np.save(os.path.join(work, "v.npy"), v)
            gx, = torch.autograd.grad(loss, X, create_graph=True)
            gp = loss + 0.1 * (gx * gx).sum()
            gps = torch.autograd.grad(gp, list(pt.values()), retain_graph=True)
            hv, = torch.autograd.grad(gx, X, torch.tensor(v))
            for mode, tol in (("f64", 1e-6), ("f32", 1e-3)):
                p = ["--params", f"{work}/p.st"]
                wrt = [] if tokens else ["--wrt", xname]
                a = ev("loss", ["--grad", *wrt, *p, *loss_ins], f"{work}/a.st", mode)
                b = ev("gp", ["--grad", *p, *ins], f"{work}/b.st", mode)
                c = ev("hvp", [*p, *ins, "--input", f"v={work}/v.npy"], f"{work}/c.st", mode)
                e_in = rel(a[s["wrt"] + ".grad"], gx.detach().numpy())
                e_gp = max(rel(b[k + ".grad"], g.numpy()) for k, g in zip(pt, gps))
                e_gpl = rel(b["loss"], gp.detach().numpy())
                e_hv = rel(c["output"], hv.numpy())
                what_in = "input gradient" if not tokens else f"input gradient ({s['wrt']})"
                for what, e in ((what_in, e_in), ("gradient penalty: value", e_gpl),
                                ("gradient penalty: parameter gradients", e_gp), ("HVP", e_hv)):
                    ok = e <= tol
                    bad += not ok
                    print(f"{name:12s} {mode}  {what:40s} worst relative error {e:.2e}  {'ok' if ok else 'MISMATCH'}",
                          flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
