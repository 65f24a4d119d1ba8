"""test_example.py -- the Python example of README.md ("Use nnc from your
project"), run as it says: nnc writes the module into an empty directory,
example.py (this folder's, which the README must hold verbatim) runs there."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import harness  # exits 77 without NumPy

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = harness.SOURCE_DIR


class Example(unittest.TestCase):
    def test_readme_holds_it(self):
        with open(os.path.join(HERE, "example.py")) as f:
            example = f.read()
        with open(os.path.join(SRC, "README.md")) as f:
            readme = f.read()
        self.assertIn("```python\n" + example + "```\n", readme)
        self.assertIn("nnc samples/fashion_mlp.nn --emit=python", readme)

    def test_runs(self):
        with tempfile.TemporaryDirectory() as d:
            os.symlink(os.path.join(SRC, "samples"), os.path.join(d, "samples"))
            subprocess.run([os.environ["NNC_EXE"], "samples/fashion_mlp.nn", "--emit=python"], cwd=d, check=True)
            self.assertEqual(sorted(os.listdir(d)), ["fashion_mlp.h", "fashion_mlp.py", "libfashion_mlp.so", "samples"])
            shutil.copy(os.path.join(HERE, "example.py"), d)
            out = subprocess.run([sys.executable, "example.py"], cwd=d, check=True, capture_output=True, text=True).stdout
        lines = out.splitlines()
        self.assertEqual([l.split(":")[0] for l in lines[:4]], ["step 5", "step 10", "step 15", "step 20"])
        self.assertLess(float(lines[3].split()[-1]), 0.01)
        self.assertEqual(lines[4], "classes of the first 10 images: [0 1 2 3 4 5 6 7 8 9]")
        self.assertEqual(lines[5], "W1 equal after load: True")
        self.assertEqual(lines[6], "first image alone: [0]")
        self.assertEqual(lines[7], "forward: argument 'x' has shape (128, 100); expected (B, 784) with 1 <= B <= 128")


if __name__ == "__main__":
    unittest.main()
