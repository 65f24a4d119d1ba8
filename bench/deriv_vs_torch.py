"""deriv_vs_torch.py NNC — derivatives written in .nn against PyTorch
autograd (torch.autograd.grad(..., create_graph=True)), on fashion_mlp and
fashion_cnn at small sizes (-D), with the same random parameters and data:

  input gradient   nnc eval --fn loss --grad --wrt x      vs  grad(loss, x)
  gradient penalty nnc eval --fn gp --grad  (parameters)  vs  grad(loss + 0.1 |grad_x loss|^2, params)
  HVP              nnc eval --fn hvp                      vs  grad(grad(loss, x, create_graph), x, v)

gp and hvp are added to a copy of the sample (the sample is not changed):
  fn gp(x, y) -> f32 { let g = grad(loss, wrt = [x])(x, y); return loss(x, y) + 0.1 * sum(g * g) }
  fn hvp(x, y, v) -> X { let (_g, hv) = jvp(grad(loss, wrt = [x]), wrt = [x], tangents = [v])(x, y); return hv }
Both in f64 (nnc's interpreter, --f64; results stored as the model's f32)
and f32 (nnc's compiled code) against torch in f64. Prints the worst
relative error of each, and exits 1 when one is above its tolerance
(f64 1e-6: the f32 storage of the results; f32 1e-3)."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

SAMPLES = {
    "fashion_mlp": {"defs": {"B": 4, "H": 8}, "x": lambda d: (d["B"], 784), "xt": "f32[B, 784]"},
    "fashion_cnn": {"defs": {"B": 2, "C1": 2, "C2": 3, "HID": 4}, "x": lambda d: (d["B"], 1, 28, 28),
                    "xt": "f32[B, 1, 28, 28]"},
}


def forward(name, p, x):
    if name == "fashion_mlp":
        h1 = F.relu(x @ p["W1"] + p["b1"])
        h2 = F.relu(h1 @ p["W2"] + p["b2"])
        return h2 @ p["W3"] + p["b3"]
    h1 = F.max_pool2d(F.relu(F.conv2d(x, p["c1w"], p["c1b"], padding=1)), 2)
    h2 = F.max_pool2d(F.relu(F.conv2d(h1, p["c2w"], p["c2b"], padding=1)), 2)
    h3 = F.relu(h2.flatten(1) @ p["W1"] + p["b1"])
    return h3 @ p["W2"] + p["b2"]


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


def with_fns(src, xt):
    lines = src.split("\n")
    last = max(i for i, l in enumerate(lines) if l.startswith("}"))
    add = [f"  fn gp(x: {xt}, y: i32[B]) -> f32 {{",
           "    let g = grad(loss, wrt = [x])(x, y)",
           "    return loss(x, y) + 0.1 * sum(g * g)", "  }",
           f"  fn hvp(x: {xt}, y: i32[B], v: {xt}) -> {xt} {{",
           "    let (_g, hv) = jvp(grad(loss, wrt = [x]), wrt = [x], tangents = [v])(x, y)",
           "    return hv", "  }"]
    return "\n".join(lines[:last] + add + lines[last:])


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def main():
    nnc = sys.argv[1]
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bad = 0
    with tempfile.TemporaryDirectory() as work:
        for name, s in SAMPLES.items():
            model = os.path.join(work, name + ".nn")
            with open(model, "w") as f:
                f.write(with_fns(open(os.path.join(top, "samples", name + ".nn")).read(), s["xt"]))
            defs = []
            for k, v in s["defs"].items():
                defs += ["-D", f"{k}={v}"]
            rng = np.random.default_rng(1)
            B = s["defs"]["B"]
            x = rng.uniform(0, 1, s["x"](s["defs"]))
            v = rng.uniform(-1, 1, x.shape)
            y = rng.integers(0, 10, B).astype(np.int32)
            for k, a in (("x", x), ("v", v), ("y", y)):
                np.save(os.path.join(work, k + ".npy"), a)
            ins = ["--input", f"x={work}/x.npy", "--input", f"y={work}/y.npy"]

            def ev(fn, extra, out, mode):
                cmd = [nnc, "eval", model, "--fn", fn, *defs, *extra, "-o", out]
                cmd += ["--f64"] if mode == "f64" else []
                subprocess.run(cmd, check=True)
                return read_st(out)
            # the parameters' names and shapes, then random values for both sides
            shapes = ev("loss", ["--grad", "--seed", "0", *ins], f"{work}/shapes.st", "f64")
            params = {k[:-5]: rng.normal(0, 0.3, a.shape) for k, a in shapes.items() if k.endswith(".grad")}
            write_st(f"{work}/p.st", params)
            pt = {k: torch.tensor(a, requires_grad=True) for k, a in params.items()}
            xt = torch.tensor(x, requires_grad=True)
            yt = torch.tensor(y, dtype=torch.long)
            vt = torch.tensor(v)
            loss = F.cross_entropy(forward(name, pt, xt), yt)
            gx, = torch.autograd.grad(loss, xt, create_graph=True)
            gp = loss + 0.1 * (gx * gx).sum()
            gps = torch.autograd.grad(gp, list(pt.values()), retain_graph=True)
            hv, = torch.autograd.grad(gx, xt, vt)
            for mode, tol in (("f64", 1e-6), ("f32", 1e-3)):
                p = ["--params", f"{work}/p.st"]
                a = ev("loss", ["--grad", "--wrt", "x", *p, *ins], f"{work}/a.st", mode)
                b = ev("gp", ["--grad", *p, *ins], f"{work}/b.st", mode)
                c = ev("hvp", [*p, *ins, "--input", f"v={work}/v.npy"], f"{work}/c.st", mode)
                e_in = rel(a["x.grad"], gx.detach().numpy())
                e_gp = max(rel(b[k + ".grad"], g.numpy()) for k, g in zip(pt, gps))
                e_gpl = rel(b["loss"], gp.detach().numpy())
                e_hv = rel(c["output"], hv.numpy())
                for what, e in (("input gradient", e_in), ("gradient penalty: value", e_gpl),
                                ("gradient penalty: parameter gradients", e_gp), ("HVP", e_hv)):
                    ok = e <= tol
                    bad += not ok
                    print(f"{name:12s} {mode}  {what:40s} worst relative error {e:.2e}  {'ok' if ok else 'MISMATCH'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
