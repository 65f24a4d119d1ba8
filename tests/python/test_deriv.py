"""test_deriv.py -- the module of tests/nn/deriv.nn (f64; functions whose
bodies take derivatives, and their parameter gradients, second and third
order): results equal the C API's bit for bit, the input gradient matches
central differences of the function itself, docstrings come from the .nn."""
import unittest

from harness import np, c_reference, by_name, same_bits
import deriv as mod


class Deriv(unittest.TestCase):
    def setUp(self):
        self.m = mod.Model(seed=2)
        rng = np.random.default_rng(5)
        self.x, self.y, self.v = rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 3))

    def test_equal_c(self):
        for fn in ("f", "gx", "rgx", "vg", "penalty"):
            out = getattr(self.m, fn)(self.x, self.y)
            self.assertEqual(out.dtype, np.float64)
            self.assertTrue(same_bits(out, c_reference(mod, self.m, fn, [self.x, self.y])[0]), fn)
        for fn in ("tan", "hvp", "rhvp"):
            out = getattr(self.m, fn)(self.x, self.y, self.v)
            self.assertTrue(same_bits(out, c_reference(mod, self.m, fn, [self.x, self.y, self.v])[0]), fn)
        for fn in ("penalty_grad", "hpenalty_grad"):
            inputs = [self.x, self.y] + ([self.v] if fn == "hpenalty_grad" else [])
            loss, grads = getattr(self.m, fn)(*inputs)
            ref_loss, ref_grads = c_reference(mod, self.m, fn, inputs, buffers=["grads"])
            self.assertTrue(same_bits(loss, ref_loss), fn)
            for name, g in by_name(mod, ref_grads).items():
                self.assertTrue(same_bits(grads[name], g), name)

    def test_input_gradient(self):
        g = self.m.gx(self.x, self.y)
        h = 1e-6
        for i in np.ndindex(self.x.shape):
            e = np.zeros_like(self.x)
            e[i] = h
            fd = (self.m.f(self.x + e, self.y) - self.m.f(self.x - e, self.y)) / (2 * h)
            self.assertAlmostEqual(float(g[i]), float(fd), delta=1e-6 * max(1, abs(float(fd))))

    def test_exact_conversion(self):
        x32 = self.x.astype(np.float32)
        self.assertTrue(same_bits(self.m.gx(x32, self.y), self.m.gx(x32.astype(np.float64), self.y)))

    def test_docs(self):
        self.assertIn("a recurrent net over T steps", mod.Model.r.__doc__)
        self.assertIn("|grad_x f|^2 in the loss: its parameter gradient is second order", mod.Model.penalty.__doc__)
        self.assertIn("|grad_x f|^2 in the loss", mod.Model.penalty_grad.__doc__)
        self.assertIn("Derivatives in expressions", mod.Model.__doc__)


if __name__ == "__main__":
    unittest.main()
