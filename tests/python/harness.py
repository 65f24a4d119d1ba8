"""harness.py -- what the tests of the modules of `nnc --emit=python` share.

Each test is a unittest module run by ctest (tests/python.cmake) with the
interpreter NNC_PYTHON (Debian's /usr/bin/python3): it exits 77 (skipped)
when that interpreter has no NumPy. NNC_PY_DIR is the directory of the
generated libraries and modules, NNC_C_CALL the C driver (c_call.c) that
computes the reference results through the C API, NNC_SOURCE_DIR the
checkout."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("skipped: %s has no NumPy" % sys.executable)
    sys.exit(77)

MODULE_DIR = os.environ["NNC_PY_DIR"]
C_CALL = os.environ["NNC_C_CALL"]
SOURCE_DIR = os.environ["NNC_SOURCE_DIR"]
sys.path.insert(0, MODULE_DIR)


def c_reference(mod, model, fn, inputs, n=None, buffers=()):
    """The results of `fn` computed by c_call from a checkpoint of `model`
    (so from the same parameters, optimizer state, step and seed): a list of
    arrays of the results' shapes (n rows on a run-time axis), then the
    requested buffers ("params", "grads") as flat arrays."""
    spec = mod._FUNCS[fn]
    dtype = np.dtype(model._nn_param_dtype)
    count = max([i.offset + i.numel for i in param_infos(mod)] + [0])
    with tempfile.TemporaryDirectory() as d:
        ckpt = os.path.join(d, "model.safetensors")
        model.save(ckpt)
        args = [C_CALL, mod._LIB.path, mod._LIB.prefix, "0", ckpt, fn, "-" if n is None else str(n)]
        for i, (a, arg) in enumerate(zip(inputs, spec.inputs)):
            path = os.path.join(d, "in%d" % i)
            np.ascontiguousarray(a, dtype=arg.dtype).tofile(path)
            args.append("in:" + path)
        shapes = []
        for i, r in enumerate(spec.results):
            shape = tuple(n if k in r.dyn else s for k, s in enumerate(r.shape))
            shapes.append((os.path.join(d, "out%d" % i), shape, r.dtype))
            args.append("out:%d:%s" % (int(np.prod(shape, dtype=np.int64)) * r.dtype.itemsize, shapes[-1][0]))
        for b in buffers:
            shapes.append((os.path.join(d, b), (count,), dtype))
            args.append("%s:%d:%s" % (b, count * dtype.itemsize, shapes[-1][0]))
        subprocess.run(args, check=True)
        return [np.fromfile(path, dtype).reshape(shape) for path, shape, dtype in shapes]


def param_infos(mod):
    lib = mod._LIB
    return [lib.param_info(i).contents for i in range(lib.num_params())]


def by_name(mod, flat):
    """A flat parameter-layout buffer as arrays by parameter name."""
    return {i.name.decode(): flat[i.offset:i.offset + i.numel].reshape(tuple(i.shape[:i.rank]))
            for i in param_infos(mod)}


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
