"""test_dyn.py -- the module of tests/nn/dyn_mlp.nn (`dim N <= 12`): the
run-time batch n comes from the arrays, is checked against the bound and
passed to the C API; results equal the C API's bit for bit for every n."""
import unittest

from harness import np, c_reference, by_name, same_bits
import dyn_mlp as mod


def batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6), dtype=np.float32) - 0.5, (np.arange(n) % 3).astype(np.int32)


class Dyn(unittest.TestCase):
    def setUp(self):
        self.m = mod.Model(seed=3)

    def test_bound(self):
        self.assertEqual(mod.N_MAX, 12)
        self.assertEqual(mod.SHAPES["forward"], {"x": (12, 6), "out": (12, 3)})

    def test_every_n_equals_c(self):
        for n in (1, 5, 12):
            x, y = batch(n, n)
            out = self.m.forward(x)
            self.assertEqual(out.shape, (n, 3))
            self.assertTrue(same_bits(out, c_reference(mod, self.m, "forward", [x], n=n)[0]), n)
            self.assertTrue(same_bits(self.m.loss(x, y), c_reference(mod, self.m, "loss", [x, y], n=n)[0]), n)
            loss, grads = self.m.loss_grad(x, y)
            ref_loss, ref_grads = c_reference(mod, self.m, "loss_grad", [x, y], n=n, buffers=["grads"])
            self.assertTrue(same_bits(loss, ref_loss))
            for name, g in by_name(mod, ref_grads).items():
                self.assertTrue(same_bits(grads[name], g), name)
            ref_loss, ref_params = c_reference(mod, self.m, "train_step", [x, y], n=n, buffers=["params"])
            self.assertTrue(same_bits(self.m.train_step(x, y), ref_loss))
            for name, p in by_name(mod, ref_params).items():
                self.assertTrue(same_bits(self.m.params[name], p), name)

    def test_rows_are_independent(self):
        x, _ = batch(7, 1)
        whole = self.m.forward(x)
        for i in range(7):
            self.assertTrue(same_bits(self.m.forward(x[i:i + 1]), whole[i:i + 1]), i)

    def test_out_of_bounds(self):
        for n in (0, 13):
            x, y = batch(n)
            with self.assertRaises(mod.ShapeError) as cm:
                self.m.forward(x)
            self.assertEqual(str(cm.exception),
                             "forward: argument 'x' has shape (%d, 6); expected (N, 6) with 1 <= N <= 12" % n)
            with self.assertRaises(mod.ShapeError):
                self.m.train_step(x, y)
        x, y = batch(5)
        with self.assertRaises(mod.ShapeError) as cm:
            self.m.loss(x, y[:4])
        self.assertEqual(str(cm.exception), "loss: argument 'y' has shape (4,); expected (5,) (N = 5, from argument 'x')")
        with self.assertRaises(mod.ShapeError) as cm:
            self.m.forward(np.zeros((5, 7), np.float32))
        self.assertIn("has shape (5, 7); expected (N, 6)", str(cm.exception))

    def test_train_step_lowers_the_loss(self):
        x, y = batch(12, 9)
        first = float(self.m.loss(x, y))
        for _ in range(30):
            self.m.train_step(x, y)
        self.assertLess(float(self.m.loss(x, y)), first * 0.7)

    def test_doc(self):
        self.assertIn("A run-time batch (dim N <= 12)", mod.__doc__)
        self.assertIn("x: float32 (N, 6)", mod.Model.forward.__doc__)
        self.assertIn("returns: float32 (N, 3)", mod.Model.forward.__doc__)


if __name__ == "__main__":
    unittest.main()
