# emit_python_base.py -- the part of every module that `nnc --emit=python`
# writes which does not depend on the model. emit_python.c copies it (it is
# compiled into nnc) between the module's docstring and the model's tables:
# the functions with their argument names, dtypes and shapes, and the class
# Model whose methods call them.
#
# Over the library's C API (docs/api.md) through ctypes: _Library declares
# the prototypes and turns a status into a StatusError with the library's
# own message; _ModelBase owns one C object through a _Handle, checks each
# argument's dtype and shape before a call (the run-time batch n comes from
# the arrays) and allocates the results. Standard library and NumPy only.

import ctypes as _ct
import operator as _operator
import os as _os
import threading as _threading
import types as _types

import numpy as _np


class Error(Exception):
    """Base of the errors this module raises."""


class StatusError(Error):
    """A call of the library failed. `status` is its nn_status code (e.g. 4),
    `name` the code's name (e.g. "NN_ERR_IO"); the message is the library's
    explanation (NAME_last_error)."""

    def __init__(self, message, status, name):
        Error.__init__(self, message)
        self.status = status
        self.name = name


class ShapeError(Error, ValueError):
    """An argument's shape does not fit the function (also a run-time size
    outside its bound). The message names the argument and both shapes."""


class DTypeError(Error, TypeError):
    """An argument's dtype cannot be converted exactly to the function's."""


class ClosedError(Error):
    """The model was closed (or never created)."""


class _TensorInfo(_ct.Structure):
    # nn_tensor_info of the header
    _fields_ = [("name", _ct.c_char_p), ("rank", _ct.c_int), ("shape", _ct.c_int64 * 8),
                ("offset", _ct.c_size_t), ("numel", _ct.c_size_t)]


class _Arg:
    """One array of a call: an input it reads or a result it writes."""

    def __init__(self, name, dtype, shape, dyn, out):
        self.name = name                # the .nn name ("x"), "out" or "loss" for results
        self.dtype = _np.dtype(dtype)
        self.shape = tuple(shape)       # a run-time axis holds the bound
        self.dyn = tuple(dyn)           # the run-time axes
        self.out = out


class _Fn:
    """One entry point NAME_<name> of the library."""

    def __init__(self, name, kind, takes_n, args):
        self.name = name
        self.kind = kind                # "fn", "grad" or "train"
        self.takes_n = takes_n          # int64_t n follows the object
        self.args = [_Arg(*a) for a in args]
        self.inputs = [a for a in self.args if not a.out]
        self.results = [a for a in self.args if a.out]


def _functions(rows):
    return {r[0]: _Fn(*r) for r in rows}


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


class _Library:
    """The C API of one generated library (docs/api.md), prototypes declared."""

    def __init__(self, path, prefix, abi_version, funcs):
        self.prefix = prefix
        self.path = path
        lib = _ct.CDLL(path)
        P, I, L, U = _ct.c_void_p, _ct.c_int, _ct.c_int64, _ct.c_uint64

        def c(name, res, *args):
            f = getattr(lib, prefix + "_" + name)
            f.restype = res
            f.argtypes = list(args)
            return f

        self.create_threads = c("create_threads", I, _ct.POINTER(P), U, I)
        self.destroy = c("destroy", None, P)
        self.num_params = c("num_params", _ct.c_size_t)
        self.param_info = c("param_info", _ct.POINTER(_TensorInfo), _ct.c_size_t)
        self.params = c("params", P, P)
        self.grads = c("grads", P, P)
        self.init_params = c("init_params", I, P, U)
        self.set_learning_rate = c("set_learning_rate", I, P, _ct.c_double)
        self.save = c("save", I, P, _ct.c_char_p)
        self.load = c("load", I, P, _ct.c_char_p)
        self.abi_version = c("abi_version", I)
        self.build_info = c("build_info", _ct.c_char_p)
        self.status_string = c("status_string", _ct.c_char_p, I)
        self.last_error = c("last_error", _ct.c_char_p)
        if self.abi_version() != abi_version:
            raise Error("%s: the library has ABI version %d; this module was generated for %d (rebuild both with "
                        "the same nnc)" % (path, self.abi_version(), abi_version))
        self.entry = {}
        for f in funcs.values():
            self.entry[f.name] = c(f.name, I, P, *([L] if f.takes_n else []), *([P] * len(f.args)))

    def check(self, status, what):
        """Raise StatusError for a failed call, with the library's message."""
        if status != 0:
            s = _text(self.status_string(status))
            raise StatusError("%s: %s (%s)" % (what, s, _text(self.last_error())), status, s.split(":")[0])


class _Handle:
    """Owns one C object: destroys it when the last reference goes (the Model,
    or an array of its params or grads, which views the object's memory)."""

    def __init__(self, lib, ptr):
        self.lib = lib
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            try:
                self.lib.destroy(self.ptr)
            except Exception:  # interpreter shutdown
                pass
            self.ptr = None


def _shape_text(shape, dyn, dim, n):
    """(128, 784), or (N, 6) for a run-time axis whose size is not known yet."""
    dims = [dim[0] if (k in dyn and n is None) else str(n if k in dyn else d) for k, d in enumerate(shape)]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _convert(fname, arg, value):
    """value as a C-contiguous array of arg's dtype, converted only when that
    is exact: a safe cast (float32 to float64, int16 to int32, bool to int32)
    or integers whose values all fit."""
    a = _np.asarray(value)
    want = arg.dtype
    if a.dtype != want:
        ok = _np.can_cast(a.dtype, want, "safe")
        if not ok and want.kind in "iu" and a.dtype.kind in "iu":
            info = _np.iinfo(want)
            ok = a.size == 0 or (int(a.min()) >= info.min and int(a.max()) <= info.max)
        if not ok:
            raise DTypeError("%s: argument '%s' has dtype %s; expected %s (convert it with .astype(%s))"
                             % (fname, arg.name, a.dtype, want, want.name))
        a = a.astype(want)
    return _np.ascontiguousarray(a)


def _fit(fname, arg, a, dim, n, n_from):
    """Check the shape of input a; returns the run-time size n (None until
    an input sized by it is seen) and the input it came from."""
    fits = a.ndim == len(arg.shape) and all(k in arg.dyn or a.shape[k] == d for k, d in enumerate(arg.shape))
    for k in arg.dyn if fits else ():
        if n is None and 1 <= a.shape[k] <= dim[1]:
            n, n_from = a.shape[k], arg.name
        fits = fits and a.shape[k] == n
    if not fits:
        if arg.dyn and n is None:
            want = "%s with 1 <= %s <= %d" % (_shape_text(arg.shape, arg.dyn, dim, None), dim[0], dim[1])
        else:
            want = _shape_text(arg.shape, arg.dyn, dim, n)
            if arg.dyn:
                want += " (%s = %d, from argument '%s')" % (dim[0], n, n_from)
        raise ShapeError("%s: argument '%s' has shape %s; expected %s" % (fname, arg.name, a.shape, want))
    return n, n_from


class _ModelBase:
    """What every model class has; the generated class adds one method per
    function of the library."""

    _nn_lib = None          # the _Library
    _nn_dim = None          # ("N", bound) of a run-time dimension, or None
    _nn_param_dtype = None  # the parameters' dtype
    _nn_h = None            # the _Handle; None when closed (or never created)
    _nn_lock = _threading.Lock()  # each object has its own: calls on one object must not overlap

    def __init__(self, seed=0, threads=0):
        """A new model: parameters initialized from `seed` by the .nn file's
        initializers (the same seed gives the same numbers on any machine and
        thread count), kernels on `threads` threads (0: one per core)."""
        self._nn_h = None
        self._nn_lock = _threading.Lock()
        self._nn_views = {}
        seed = _operator.index(seed)
        threads = _operator.index(threads)
        if not 0 <= seed < 1 << 64:
            raise ValueError("seed must be in 0..2**64-1, not %d" % seed)
        if not 0 <= threads <= 1 << 20:
            raise ValueError("threads must be 0 (one per core) or a thread count, not %d" % threads)
        out = _ct.c_void_p()
        lib = self._nn_lib
        lib.check(lib.create_threads(_ct.byref(out), seed, threads), lib.prefix + "_create")
        self._nn_h = _Handle(lib, out.value)

    def close(self):
        """End the model: its methods raise ClosedError from now on. The C
        object is freed now, or when the last array of its params or grads
        goes. Closing twice is allowed."""
        with self._nn_lock:
            self._nn_h = None
            self._nn_views = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._nn_h is None else "open"
        return "<%s.%s (%s), %s>" % (type(self).__module__, type(self).__name__, self._nn_lib.path, state)

    def _nn_ptr(self):
        h = self._nn_h
        if h is None:
            raise ClosedError("%s: the model is closed" % self._nn_lib.prefix)
        return h.ptr

    def _nn_buffer(self, which):
        """The parameters (or gradients) as arrays viewing the C object's buffer."""
        ptr = self._nn_ptr()
        if which not in self._nn_views:
            lib = self._nn_lib
            infos = [lib.param_info(i).contents for i in range(lib.num_params())]
            count = max([i.offset + i.numel for i in infos] + [0])
            addr = (lib.params if which == "params" else lib.grads)(ptr)
            if not addr:
                lib.check(2, lib.prefix + "_" + which)
            dt = _np.dtype(self._nn_param_dtype)
            buf = (_np.ctypeslib.as_ctypes_type(dt) * count).from_address(addr)
            buf._nn_owner = self._nn_h  # the views keep the C object alive
            flat = _np.frombuffer(buf, dtype=dt)
            views = {_text(i.name): flat[i.offset:i.offset + i.numel].reshape(tuple(i.shape[:i.rank]))
                     for i in infos}
            self._nn_views[which] = _types.MappingProxyType(views)
        return self._nn_views[which]

    @property
    def params(self):
        """The parameters by name, as arrays that view the model's flat
        parameter buffer: writing into them (m.params["W1"][...] = w)
        changes the model."""
        return self._nn_buffer("params")

    @property
    def grads(self):
        """The gradients of the last gradient call, by parameter name, as
        arrays viewing the model's gradient buffer (overwritten by the next
        gradient call)."""
        return self._nn_buffer("grads")

    def init_params(self, seed):
        """Initialize the parameters again from `seed`, exactly as Model(seed)
        would; clears the optimizer state and the step count."""
        seed = _operator.index(seed)
        if not 0 <= seed < 1 << 64:
            raise ValueError("seed must be in 0..2**64-1, not %d" % seed)
        with self._nn_lock:
            self._nn_lib.check(self._nn_lib.init_params(self._nn_ptr(), seed), "init_params")

    def set_learning_rate(self, lr):
        """The learning rate of the following train_step calls (0 <= lr <= 1e6)."""
        with self._nn_lock:
            self._nn_lib.check(self._nn_lib.set_learning_rate(self._nn_ptr(), float(lr)), "set_learning_rate")

    def save(self, path):
        """Write a checkpoint (safetensors: parameters, optimizer state, step,
        seed) to path, atomically."""
        with self._nn_lock:
            self._nn_lib.check(self._nn_lib.save(self._nn_ptr(), _os.fsencode(path)), "save")

    def load(self, path):
        """Read a checkpoint written by save (or by the training program);
        on any error the model is left as it was."""
        with self._nn_lock:
            self._nn_lib.check(self._nn_lib.load(self._nn_ptr(), _os.fsencode(path)), "load")

    @classmethod
    def build_info(cls):
        """How the library was built: nnc version, flags, target, source hash."""
        return _text(cls._nn_lib.build_info())

    def _nn_call(self, fn, values):
        """Check and convert the inputs, allocate the results, call the entry
        point and return its results."""
        dim = self._nn_dim
        n = n_from = None  # the run-time size, and the input it came from
        arrays = []
        for arg, v in zip(fn.inputs, values):
            a = _convert(fn.name, arg, v)
            n, n_from = _fit(fn.name, arg, a, dim, n, n_from)
            arrays.append(a)
        outs = [_np.empty(tuple(n if k in r.dyn else d for k, d in enumerate(r.shape)), r.dtype) for r in fn.results]
        ptrs = [a.ctypes.data for a in arrays + outs]
        lib = self._nn_lib
        with self._nn_lock:
            lead = (self._nn_ptr(),) + ((n,) if fn.takes_n else ())
            lib.check(lib.entry[fn.name](*lead, *ptrs), fn.name)
            if fn.kind == "grad":
                grads = {k: v.copy() for k, v in self._nn_buffer("grads").items()}
        if fn.kind == "grad":
            return tuple(outs) + (grads,)
        return outs[0] if len(outs) == 1 else tuple(outs)


def _shapes(funcs):
    return {f.name: {a.name: a.shape for a in f.args} for f in funcs.values()}
