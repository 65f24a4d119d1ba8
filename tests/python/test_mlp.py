"""test_mlp.py -- the module of samples/fashion_mlp.nn (batch 128): results
equal the C API's bit for bit, params view the library's buffer, checkpoints
round-trip, train_step lowers the loss, misuse raises with a message."""
import os
import tempfile
import unittest

from harness import np, c_reference, by_name, same_bits
import fashion_mlp as mod

B, D, C = 128, 784, 10


def batch(seed):
    rng = np.random.default_rng(seed)
    return rng.random((B, D), dtype=np.float32), rng.integers(0, C, B).astype(np.int32)


class Results(unittest.TestCase):
    def setUp(self):
        self.m = mod.Model(seed=7)
        self.x, self.y = batch(1)
        # parameters the initializers did not make (b1 is zeros): changed through the view
        self.m.params["b1"][...] = np.linspace(-0.1, 0.1, 256, dtype=np.float32)

    def tearDown(self):
        self.m.close()

    def test_forward_and_loss(self):
        out = self.m.forward(self.x)
        self.assertEqual((out.shape, out.dtype), ((B, C), np.float32))
        self.assertTrue(same_bits(out, c_reference(mod, self.m, "forward", [self.x], n=B)[0]))
        loss = self.m.loss(self.x, self.y)
        self.assertEqual((loss.shape, loss.dtype), ((), np.float32))
        self.assertTrue(same_bits(loss, c_reference(mod, self.m, "loss", [self.x, self.y], n=B)[0]))

    def test_loss_grad(self):
        loss, grads = self.m.loss_grad(self.x, self.y)
        ref_loss, ref_grads = c_reference(mod, self.m, "loss_grad", [self.x, self.y], n=B, buffers=["grads"])
        self.assertTrue(same_bits(loss, ref_loss))
        ref = by_name(mod, ref_grads)
        self.assertEqual(sorted(grads), sorted(ref))
        for name in ref:
            self.assertTrue(same_bits(grads[name], ref[name]), name)
            self.assertTrue(same_bits(self.m.grads[name], ref[name]), name)
        self.assertGreater(float(np.abs(grads["W1"]).sum()), 0)

    def test_train_step(self):
        for _ in range(2):  # the second step has momentum from the first
            ref_loss, ref_params = c_reference(mod, self.m, "train_step", [self.x, self.y], n=B, buffers=["params"])
            loss = self.m.train_step(self.x, self.y)
            self.assertTrue(same_bits(loss, ref_loss))
            ref = by_name(mod, ref_params)
            for name in ref:
                self.assertTrue(same_bits(self.m.params[name], ref[name]), name)

    def test_train_step_lowers_the_loss(self):
        # the toy batch of docs/api.md: class c lights pixels 78c..78c+77
        x = np.zeros((B, D), np.float32)
        y = (np.arange(B) % C).astype(np.int32)
        for i in range(B):
            x[i, 78 * y[i]:78 * y[i] + 78] = 1
        first = float(self.m.loss(x, y))
        for _ in range(10):
            self.m.train_step(x, y)
        self.assertLess(float(self.m.loss(x, y)), first / 4)


class Params(unittest.TestCase):
    def test_views_write_into_the_model(self):
        with mod.Model(seed=3) as m:
            x, _ = batch(2)
            p = m.params
            self.assertEqual({k: v.shape for k, v in p.items()},
                             {"W1": (784, 256), "b1": (256,), "W2": (256, 256), "b2": (256,), "W3": (256, 10), "b3": (10,)})
            self.assertIs(m.params["W1"].dtype, np.dtype(np.float32))
            p["W3"][...] = 0
            p["b3"][...] = np.arange(10, dtype=np.float32) / 4
            self.assertTrue(same_bits(m.forward(x), np.tile(np.arange(10, dtype=np.float32) / 4, (B, 1))))
            with self.assertRaises(TypeError):
                p["W3"] = np.zeros((256, 10), np.float32)  # a view is written into, not replaced

    def test_same_seed_same_params(self):
        a, b, c = mod.Model(seed=5, threads=1), mod.Model(seed=5, threads=2), mod.Model(seed=6)
        for name in a.params:
            self.assertTrue(same_bits(a.params[name], b.params[name]), name)
        self.assertFalse(same_bits(a.params["W1"], c.params["W1"]))
        c.init_params(5)
        self.assertTrue(same_bits(a.params["W1"], c.params["W1"]))

    def test_checkpoint_round_trip(self):
        m = mod.Model(seed=11)
        x, y = batch(3)
        m.train_step(x, y)
        before = {k: v.copy() for k, v in m.params.items()}
        out = m.forward(x)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "mlp.safetensors")
            m.save(path)
            for v in m.params.values():
                v += 1
            self.assertFalse(same_bits(m.forward(x), out))
            m.load(path)
            for k, v in m.params.items():
                self.assertTrue(same_bits(v, before[k]), k)
            self.assertTrue(same_bits(m.forward(x), out))
            # the optimizer state came back too: the next steps are the same
            other = mod.Model(seed=0)
            other.load(path)
            self.assertTrue(same_bits(m.train_step(x, y), other.train_step(x, y)))
            self.assertTrue(same_bits(m.params["W1"], other.params["W1"]))


class Errors(unittest.TestCase):
    def setUp(self):
        self.m = mod.Model(seed=1)
        self.x, self.y = batch(4)

    def raises(self, exc, fn, *args):
        with self.assertRaises(exc) as cm:
            fn(*args)
        return str(cm.exception)

    def test_shape(self):
        # the batch is `dim B <= 128`: any 1..128 rows, the same in every argument
        msg = self.raises(mod.ShapeError, self.m.forward, self.x[:, :100])
        self.assertEqual(msg, "forward: argument 'x' has shape (128, 100); expected (B, 784) with 1 <= B <= 128")
        msg = self.raises(ValueError, self.m.loss, self.x, self.y[:, None])
        self.assertEqual(msg, "loss: argument 'y' has shape (128, 1); expected (128,) (B = 128, from argument 'x')")
        msg = self.raises(mod.ShapeError, self.m.loss, self.x, self.y[:3])
        self.assertEqual(msg, "loss: argument 'y' has shape (3,); expected (128,) (B = 128, from argument 'x')")
        self.raises(mod.ShapeError, self.m.forward, np.zeros((129, D), np.float32))
        self.raises(mod.ShapeError, self.m.forward, self.x.reshape(-1))

    def test_dtype(self):
        msg = self.raises(mod.DTypeError, self.m.forward, self.x.astype(np.float64))
        self.assertIn("argument 'x' has dtype float64; expected float32", msg)
        self.raises(TypeError, self.m.loss, self.x, self.y.astype(np.float32))
        self.raises(mod.DTypeError, self.m.loss, self.x, self.y.astype(np.int64) + (1 << 40))
        # exact conversions are made: int64 labels that fit, a list
        self.assertTrue(same_bits(self.m.loss(self.x, self.y.astype(np.int64)), self.m.loss(self.x, list(self.y))))
        self.assertTrue(same_bits(self.m.forward(np.asfortranarray(self.x)), self.m.forward(self.x)))
        self.raises(mod.DTypeError, self.m.forward, None)

    def test_status(self):
        with self.assertRaises(mod.StatusError) as cm:
            self.m.load("/nonexistent/mlp.safetensors")
        e = cm.exception
        self.assertEqual((e.status, e.name), (4, "NN_ERR_IO"))
        self.assertIn("/nonexistent/mlp.safetensors: cannot open", str(e))
        y = self.y.copy()
        y[2] = 10
        msg = self.raises(mod.StatusError, self.m.train_step, self.x, y)
        self.assertIn("NN_ERR_RANGE", msg)
        self.assertIn("input 'y' holds 10 at position 2", msg)
        self.assertIn("NN_ERR_ARG", self.raises(mod.StatusError, self.m.set_learning_rate, -1))
        self.assertIn("NN_ERR_ARG", self.raises(mod.StatusError, mod.Model, 1, 5000))
        self.raises(ValueError, mod.Model, -1)

    def test_null_and_closed(self):
        # the C API refuses a NULL object with a status, which becomes an exception
        out = np.empty((B, C), np.float32)
        s = mod._LIB.entry["forward"](None, B, self.x.ctypes.data, out.ctypes.data)
        msg = self.raises(mod.StatusError, mod._LIB.check, s, "forward")
        self.assertIn("NN_ERR_NULL", msg)
        view = self.m.params["W1"]
        saved = view.copy()
        self.m.close()
        self.m.close()
        for call in (lambda: self.m.forward(self.x), lambda: self.m.loss_grad(self.x, self.y),
                     lambda: self.m.train_step(self.x, self.y), lambda: self.m.params, lambda: self.m.save("/tmp/x"),
                     lambda: self.m.init_params(1)):
            self.assertIn("closed", self.raises(mod.ClosedError, call))
        self.assertTrue(same_bits(view, saved))  # the view kept the C object alive
        never = mod.Model.__new__(mod.Model)
        self.raises(mod.ClosedError, never.forward, self.x)
        self.assertIn("closed", repr(self.m))


class Module(unittest.TestCase):
    def test_docstrings(self):
        self.assertIn("a 784-256-256-10 multilayer perceptron", mod.__doc__)
        self.assertIn("class scores (logits) for a batch of flattened 28x28 images", mod.Model.forward.__doc__)
        self.assertIn("x: float32 (B, 784)", mod.Model.forward.__doc__)
        self.assertIn("B is the run-time size (`dim B <= 128`)", mod.Model.forward.__doc__)
        self.assertIn("minimizing `loss`", mod.Model.train_step.__doc__)

    def test_names(self):
        public = {n for n in dir(mod._ModelBase) if not n.startswith("_")}
        self.assertEqual(public - set(mod._RESERVED), set())
        self.assertEqual(mod.SHAPES["forward"], {"x": (128, 784), "out": (128, 10)})
        self.assertEqual(mod.ABI_VERSION, 1)
        self.assertIn("source fashion_mlp.nn", mod.Model.build_info())


if __name__ == "__main__":
    unittest.main()
