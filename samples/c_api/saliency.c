/* saliency.c — input-gradient saliency maps of Fashion-MNIST test images,
 * drawn as an SVG a person can look at, with the C library nnc generates
 * from samples/fashion_robust.nn (its function `saliency` is written in .nn
 * as a gradient: abs(grad(class_score, wrt = [x])(x, predicted class))):
 *
 *   nnc samples/fashion_robust.nn --emit=exe -o robust && ./robust     # train: fashion_robust.ckpt.safetensors
 *   nnc samples/fashion_robust.nn --emit=lib                            # libfashion_robust.so + fashion_robust.h
 *   cc saliency.c -o saliency -L. -lfashion_robust -lz -Wl,-rpath,.
 *   ./saliency OUT.svg [CHECKPOINT.safetensors]
 *
 * The first 8 test images: each drawn in grey with its saliency beside it
 * (white = no influence, dark red = the pixels that move the predicted
 * class's score most), labelled with the prediction and the truth. Without
 * a checkpoint the parameters come from seed 1 (untrained). The images are
 * read from $FASHION_MNIST_DIR, by default /usr/share/datasets/fashion-mnist. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fashion_robust.h"
#define IDX_PROGRAM "saliency"
#include "idx.h"

static const char *const class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static const int64_t x_shape[] = FASHION_ROBUST_SALIENCY_X_SHAPE, f_shape[] = FASHION_ROBUST_FORWARD_OUT_SHAPE;
/* the library takes any batch of 1..FASHION_ROBUST_B_MAX images: SHOW of them */
#define PIXELS ((size_t)x_shape[1])
#define CLASSES ((size_t)f_shape[1])
enum { SHOW = 8, SIDE = 28, CELL = 4 };

static void check(nn_status s, const char *what) {
  if (s == NN_OK) return;
  fprintf(stderr, "saliency: %s: %s\n  %s\n", what, fashion_robust_status_string(s), fashion_robust_last_error());
  exit(1);
}

/* One 28x28 map at (x0, y0): grey levels, or white to dark red. */
static void draw(FILE *f, const float *v, int x0, int y0, bool heat) {
  for (int r = 0; r < SIDE; r++)
    for (int c = 0; c < SIDE; c++) {
      float t = v[r * SIDE + c];
      int R, G, B;
      if (heat) {
        R = 255 - (int)(115 * t), G = B = 255 - (int)(255 * t);
      } else {
        R = G = B = 255 - (int)(255 * t);
      }
      fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\"/>\n", x0 + c * CELL,
              y0 + r * CELL, CELL, CELL, R, G, B);
    }
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || argv[1][0] == '-') {
    fprintf(stderr, "usage: saliency OUT.svg [CHECKPOINT.safetensors]\n");
    return 2;
  }
  fashion_robust *model;
  check(fashion_robust_create(&model, 1), "create");
  if (argc == 3) check(fashion_robust_load(model, argv[2]), argv[2]);
  unsigned char *images, *labels;
  if (read_test_set(PIXELS, &images, &labels) < SHOW) {
    fprintf(stderr, "saliency: expected at least %d test images\n", SHOW);
    return 1;
  }
  float *x = xmalloc(sizeof(float) * SHOW * PIXELS), *s = xmalloc(sizeof(float) * SHOW * PIXELS);
  float *logits = xmalloc(sizeof(float) * SHOW * CLASSES);
  for (size_t i = 0; i < SHOW * PIXELS; i++) x[i] = images[i] / 255.0f; /* the train block's scale */
  check(fashion_robust_saliency(model, SHOW, x, s), "saliency");
  check(fashion_robust_forward(model, SHOW, x, logits), "forward");
  FILE *f = fopen(argv[1], "w");
  if (!f) {
    fprintf(stderr, "saliency: cannot write %s\n", argv[1]);
    return 1;
  }
  int W = SHOW * (2 * SIDE * CELL + 24), H = SIDE * CELL + 40;
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
             "font-size=\"11\">\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H, W, H);
  for (int k = 0; k < SHOW; k++) {
    float *m = s + (size_t)k * PIXELS, peak = 0;
    for (size_t i = 0; i < PIXELS; i++) peak = fmaxf(peak, m[i]);
    for (size_t i = 0; i < PIXELS; i++) m[i] = peak > 0 ? m[i] / peak : 0;
    size_t best = 0;
    for (size_t c = 1; c < CLASSES; c++)
      if (logits[k * CLASSES + c] > logits[k * CLASSES + best]) best = c;
    int x0 = k * (2 * SIDE * CELL + 24) + 8;
    draw(f, x + (size_t)k * PIXELS, x0, 8, false);
    draw(f, m, x0 + SIDE * CELL, 8, true);
    fprintf(f, "<text x=\"%d\" y=\"%d\">%s (true: %s)</text>\n", x0, SIDE * CELL + 28, class_names[best],
            class_names[labels[k]]);
  }
  fputs("</svg>\n", f);
  if (fclose(f) != 0) {
    fprintf(stderr, "saliency: cannot write %s\n", argv[1]);
    return 1;
  }
  printf("saliency maps of %d test images: %s\n", SHOW, argv[1]);
  free(x);
  free(s);
  free(logits);
  free(images);
  free(labels);
  fashion_robust_destroy(model);
  return 0;
}
