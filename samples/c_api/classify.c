/* classify.c — classify the Fashion-MNIST test set with the C library nnc
 * generates from samples/fashion_mlp.nn:
 *
 *   nnc samples/fashion_mlp.nn --emit=lib     # libfashion_mlp.so + fashion_mlp.h
 *   cc classify.c -o classify -L. -lfashion_mlp -lz -Wl,-rpath,.
 *   ./classify [CHECKPOINT.safetensors]
 *
 * It classifies the 10,000 test images twice, 128 per call and one per call
 * (the library takes the batch size at run time), and checks that both give
 * the same scores bit for bit. With a checkpoint (from the training program,
 * see README.md) it reports the trained model's accuracy; without one the parameters come from a seed
 * and the accuracy is about 10%, chance for 10 classes. The test images are
 * read from $FASHION_MNIST_DIR, by default /usr/share/datasets/fashion-mnist
 * (Debian's dataset-fashion-mnist), gzipped IDX files read with zlib. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "fashion_mlp.h"
#define IDX_PROGRAM "classify"
#include "idx.h"

static const char *const class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* Exit with the library's explanation unless s is NN_OK. */
static void check(nn_status s, const char *what) {
  if (s == NN_OK) return;
  fprintf(stderr, "classify: %s: %s\n  %s\n", what, fashion_mlp_status_string(s), fashion_mlp_last_error());
  exit(1);
}

/* ---- classification ------------------------------------------------------------------ */

/* The library takes any batch n of 1..FASHION_MLP_B_MAX images per call
 * (dim B <= 128 in the model); the _SHAPE macros give the bound's shapes:
 * x [BATCH, PIXELS], logits [BATCH, CLASSES]. */
static const int64_t x_shape[] = FASHION_MLP_FORWARD_X_SHAPE, out_shape[] = FASHION_MLP_FORWARD_OUT_SHAPE;
#define BATCH ((size_t)FASHION_MLP_B_MAX)
#define PIXELS ((size_t)x_shape[1])
#define CLASSES ((int)out_shape[1])

static int argmax(const float *v, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

/* The class scores of n images (28x28 bytes each) into logits[n][CLASSES],
 * `per_call` images per call to forward (1..BATCH): the last call takes
 * what is left, no padding. */
static void classify(fashion_mlp *model, const unsigned char *images, size_t n, size_t per_call,
                     float *logits) {
  float *x = xmalloc(sizeof(float) * per_call * PIXELS);
  for (size_t first = 0; first < n; first += per_call) {
    size_t count = n - first < per_call ? n - first : per_call;
    for (size_t i = 0; i < count * PIXELS; i++)
      x[i] = images[first * PIXELS + i] / 255.0f; /* the train block's scale */
    check(fashion_mlp_forward(model, (int64_t)count, x, logits + first * (size_t)CLASSES), "forward");
  }
  free(x);
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t1;
  timespec_get(&t1, TIME_UTC);
  return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) * 1e-9;
}

int main(int argc, char **argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: classify [CHECKPOINT.safetensors]\n");
    return 2;
  }
  if (fashion_mlp_abi_version() != FASHION_MLP_ABI_VERSION) {
    fprintf(stderr, "classify: libfashion_mlp.so has ABI %d, this program was built for %d\n",
            fashion_mlp_abi_version(), FASHION_MLP_ABI_VERSION);
    return 1;
  }
  if (CLASSES != 10) {
    fprintf(stderr, "classify: the model has %d classes, Fashion-MNIST 10\n", CLASSES);
    return 1;
  }
  printf("library: %s\n", fashion_mlp_build_info());

  fashion_mlp *model;
  check(fashion_mlp_create(&model, 1), "create");
  if (argc == 2) {
    check(fashion_mlp_load(model, argv[1]), argv[1]);
    printf("parameters: %s\n", argv[1]);
  } else {
    printf("parameters: initialized from seed 1, untrained (expect about 10%% accuracy)\n");
  }

  unsigned char *images, *labels;
  size_t n = read_test_set(PIXELS, &images, &labels), correct = 0;
  int *pred = xmalloc(n * sizeof *pred);
  float *logits = xmalloc(n * (size_t)CLASSES * sizeof(float)), *one = xmalloc(n * (size_t)CLASSES * sizeof(float));
  struct timespec t0;
  timespec_get(&t0, TIME_UTC);
  classify(model, images, n, BATCH, logits);
  printf("classified %zu images in %.3f s, %zu per call\n", n, seconds_since(&t0), BATCH);
  /* one image per call, as a server answering single requests would: the
     same scores, bit for bit, as the batches' rows */
  timespec_get(&t0, TIME_UTC);
  classify(model, images, n, 1, one);
  double t_one = seconds_since(&t0);
  printf("classified %zu images in %.3f s, one per call (%.1f us each)\n", n, t_one, t_one / (double)n * 1e6);
  if (memcmp(one, logits, n * (size_t)CLASSES * sizeof(float))) {
    fprintf(stderr, "classify: one image per call gave other scores than the batches\n");
    return 1;
  }
  printf("one per call: the same scores as the batches, bit for bit\n");
  for (size_t i = 0; i < n; i++) {
    pred[i] = argmax(logits + i * (size_t)CLASSES, CLASSES);
    correct += pred[i] == labels[i];
  }
  printf("accuracy: %.2f%% (%zu of %zu)\n", 100.0 * (double)correct / (double)n, correct, n);
  for (size_t i = 0; i < 8 && i < n; i++)
    printf("  image %zu: %-11s (true: %s)%s\n", i, class_names[pred[i]], class_names[labels[i]],
           pred[i] == labels[i] ? "" : "  x");

  free(pred);
  free(logits);
  free(one);
  free(images);
  free(labels);
  fashion_mlp_destroy(model);
  return 0;
}
