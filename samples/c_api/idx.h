/* idx.h — reading gzipped IDX files (Fashion-MNIST), for the sample
 * programs of samples/c_api (classify.c, saliency.c), and the test set. Define IDX_PROGRAM
 * (the program's name, for messages) before including it. */
#ifndef NNC_SAMPLE_IDX_H
#define NNC_SAMPLE_IDX_H
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) {
    fprintf(stderr, IDX_PROGRAM ": out of memory\n");
    exit(1);
  }
  return p;
}

/* ---- reading gzipped IDX files ------------------------------------------------------- */

static uint32_t big_endian(const unsigned char b[4]) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads an IDX file of unsigned bytes with `rank` dimensions: dims[] and
 * the data (dims multiplied) in a malloc'd buffer. */
static unsigned char *read_idx(const char *path, int rank, uint32_t dims[]) {
  gzFile f = gzopen(path, "rb");
  if (!f) {
    fprintf(stderr, IDX_PROGRAM ": cannot open %s: %s (Fashion-MNIST not found: install the Debian package "
                    "dataset-fashion-mnist or set FASHION_MNIST_DIR)\n", path, strerror(errno ? errno : ENOENT));
    exit(1);
  }
  unsigned char head[4 + 4 * 3];
  size_t hlen = 4 + 4 * (size_t)rank, n = 1;
  if (gzread(f, head, (unsigned)hlen) != (int)hlen || big_endian(head) != (0x0800u | (unsigned)rank)) {
    fprintf(stderr, IDX_PROGRAM ": %s is not an IDX file of %d-dimensional bytes\n", path, rank);
    exit(1);
  }
  for (int i = 0; i < rank; i++) {
    dims[i] = big_endian(head + 4 + 4 * i);
    n *= dims[i];
  }
  if (n > ((size_t)1 << 31)) {
    fprintf(stderr, IDX_PROGRAM ": %s: implausible size\n", path);
    exit(1);
  }
  unsigned char *data = xmalloc(n);
  if (gzread(f, data, (unsigned)n) != (int)n) {
    fprintf(stderr, IDX_PROGRAM ": %s is truncated\n", path);
    exit(1);
  }
  gzclose(f);
  return data;
}

/* The Fashion-MNIST test set from $FASHION_MNIST_DIR (default: Debian's
 * /usr/share/datasets/fashion-mnist): n images of `pixels` bytes and n
 * labels 0..9. */
static size_t read_test_set(size_t pixels, unsigned char **images, unsigned char **labels) {
  const char *dir = getenv("FASHION_MNIST_DIR");
  char ipath[4096], lpath[4096];
  if (!dir || !*dir) dir = "/usr/share/datasets/fashion-mnist";
  snprintf(ipath, sizeof ipath, "%s/t10k-images-idx3-ubyte.gz", dir);
  snprintf(lpath, sizeof lpath, "%s/t10k-labels-idx1-ubyte.gz", dir);
  uint32_t idims[3], ldims[1];
  *images = read_idx(ipath, 3, idims);
  *labels = read_idx(lpath, 1, ldims);
  if (idims[0] != ldims[0] || (size_t)idims[1] * idims[2] != pixels) {
    fprintf(stderr, IDX_PROGRAM ": expected as many 28x28 images as labels, got %u images of %ux%u and %u labels\n",
            idims[0], idims[1], idims[2], ldims[0]);
    exit(1);
  }
  for (size_t i = 0; i < ldims[0]; i++)
    if ((*labels)[i] >= 10) {
      fprintf(stderr, IDX_PROGRAM ": %s: label %zu is %d, not a class 0..9\n", lpath, i, (*labels)[i]);
      exit(1);
    }
  return idims[0];
}

#endif
