import numpy as np
import fashion_mlp

m = fashion_mlp.Model(seed=42)
B, D = fashion_mlp.SHAPES["train_step"]["x"]   # (128, 784): the batch's bound (dim B <= 128)
x = np.zeros((B, D), np.float32)               # a toy batch: class c lights pixels 78c..78c+77
y = np.arange(B, dtype=np.int32) % 10
for i in range(B):
    x[i, 78 * y[i]:78 * y[i] + 78] = 1

for step in range(1, 21):
    loss = m.train_step(x, y)                  # a 0-d float32 array
    if step % 5 == 0:
        print(f"step {step}: loss {float(loss):.4f}")
print("classes of the first 10 images:", m.forward(x).argmax(axis=1)[:10])

m.save("mlp.safetensors")
copy = fashion_mlp.Model()
copy.load("mlp.safetensors")
copy.params["b3"][:] = 0                       # params view the library's memory
print("W1 equal after load:", np.array_equal(copy.params["W1"], m.params["W1"]))
print("first image alone:", m.forward(x[:1]).argmax(axis=1))  # any 1..128 rows
try:
    m.forward(x[:, :100])
except fashion_mlp.ShapeError as e:
    print(e)
