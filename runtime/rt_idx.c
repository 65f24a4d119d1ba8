/* rt_idx.c — IDX reader (the MNIST format), plain or gzip-compressed.
 *
 * Layout: 0x00 0x00 TYPE RANK, then RANK big-endian u32 dimensions, then
 * the big-endian elements. zlib's gzread reads gzip and plain files alike
 * (gzdirect tells which), so one path handles both.
 *
 * A plain file's size is known up front, so a wrong length is reported
 * before allocating. A gzip stream's length is not: its data is read into a
 * buffer that grows by doubling up to the size the header claims, so a tiny
 * file claiming gigabytes fails after reading what is really there (a
 * gzip bomb stops at the claim, under 4 GB). */
#include "rt_io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_BYTES ((uint64_t)1 << 32) /* data must be smaller (4 GB) */

/* The element types: IDX type byte -> dtype. */
static bool idx_dtype(int code, rt_dtype *dt) {
  switch (code) {
  case 0x08: *dt = RT_U8; return true;
  case 0x09: *dt = RT_I8; return true;
  case 0x0B: *dt = RT_I16; return true;
  case 0x0C: *dt = RT_I32; return true;
  case 0x0D: *dt = RT_F32; return true;
  case 0x0E: *dt = RT_F64; return true;
  }
  return false;
}

/* Reads up to n bytes; *got is how many were read. A read past a cut-off
 * gzip stream or a corrupt one is NN_ERR_FORMAT. */
static nn_status gz_fill(gzFile gz, const char *path, uint8_t *p, size_t n,
                         size_t *got) {
  *got = 0;
  while (*got < n) {
    size_t want = n - *got;
    unsigned chunk = want > (1u << 30) ? 1u << 30 : (unsigned)want;
    int r = gzread(gz, p + *got, chunk);
    int err;
    const char *msg = gzerror(gz, &err);
    if (r < 0 || (err != Z_OK && err != Z_BUF_ERROR)) {
      if (err == Z_ERRNO)
        return rt_error(NN_ERR_IO, "%s: read error: %s", path, strerror(errno));
      return rt_error(NN_ERR_FORMAT, "%s: corrupt gzip stream: %s", path, msg);
    }
    if (err == Z_BUF_ERROR)
      return rt_error(NN_ERR_FORMAT, "%s: truncated gzip stream (%s) after "
                      "%zu bytes of IDX data", path, msg, *got + (size_t)r);
    if (r == 0) break; /* end of the file */
    *got += (size_t)r;
  }
  return NN_OK;
}

/* The magic and dimensions: fills dtype, rank, shape and the data size. */
static nn_status read_header(gzFile gz, const char *path, rt_tensor *t,
                             uint64_t *nbytes, size_t *hdr_len) {
  uint8_t h[4 + 4 * RT_MAX_RANK];
  size_t got;
  nn_status s = gz_fill(gz, path, h, 4, &got);
  if (s != NN_OK) return s;
  if (got == 0) return rt_error(NN_ERR_FORMAT, "%s: empty file; expected an "
                                "IDX header", path);
  if (got < 4)
    return rt_error(NN_ERR_FORMAT, "%s: truncated IDX header: expected 4 "
                    "bytes, found %zu", path, got);
  if (h[0] || h[1] || !idx_dtype(h[2], &t->dtype) || h[3] < 1 ||
      h[3] > RT_MAX_RANK)
    return rt_error(NN_ERR_FORMAT, "%s: not an IDX file: expected the magic 00 "
                    "00 TYPE RANK (TYPE one of 08 09 0b 0c 0d 0e, RANK 1..%d), "
                    "found %02x %02x %02x %02x", path, RT_MAX_RANK, h[0], h[1],
                    h[2], h[3]);
  t->rank = h[3];
  size_t dlen = 4 * (size_t)t->rank;
  if ((s = gz_fill(gz, path, h + 4, dlen, &got)) != NN_OK) return s;
  if (got < dlen)
    return rt_error(NN_ERR_FORMAT, "%s: truncated IDX header: %d dimensions "
                    "need %zu bytes, found %zu", path, t->rank, dlen, got);
  uint64_t bytes = rt_dtype_size(t->dtype);
  for (int i = 0; i < t->rank; i++) {
    const uint8_t *d = h + 4 + 4 * i;
    uint64_t v = (uint64_t)d[0] << 24 | (uint64_t)d[1] << 16 |
                 (uint64_t)d[2] << 8 | d[3];
    if (v == 0)
      return rt_error(NN_ERR_FORMAT, "%s: IDX dimension %d is 0", path, i);
    bytes *= v; /* < 2^32 * 2^32: cannot overflow before the check */
    if (bytes >= IDX_MAX_BYTES)
      return rt_error(NN_ERR_FORMAT, "%s: IDX data would be 4 GB or more "
                      "(dimension %d is %llu)", path, i, (unsigned long long)v);
    t->shape[i] = (int64_t)v;
  }
  *nbytes = bytes;
  *hdr_len = 4 + dlen;
  return NN_OK;
}

static nn_status no_memory(const char *path, size_t n) {
  return rt_error(NN_ERR_NOMEM, "%s: out of memory for %zu bytes of IDX data",
                  path, n);
}

/* Reads exactly `need` data bytes into a buffer that starts at first_cap
 * bytes and doubles as data arrives, never past `need`. */
static nn_status read_data(gzFile gz, const char *path, size_t need,
                           size_t first_cap, uint8_t **out) {
  size_t cap = first_cap < need ? first_cap : need, have = 0;
  uint8_t *buf = rt_alloc(cap);
  if (!buf) return no_memory(path, cap);
  for (;;) {
    size_t got;
    nn_status s = gz_fill(gz, path, buf + have, cap - have, &got);
    have += got;
    if (s == NN_OK && have < cap)
      s = rt_error(NN_ERR_FORMAT, "%s: truncated IDX data: expected %zu "
                   "bytes, found %zu", path, need, have);
    if (s != NN_OK) {
      rt_free(buf);
      return s;
    }
    if (have == need) break;
    size_t ncap = cap > need / 2 ? need : cap * 2;
    uint8_t *nb = rt_realloc(buf, have, ncap);
    if (!nb) {
      rt_free(buf);
      return no_memory(path, ncap);
    }
    buf = nb;
    cap = ncap;
  }
  *out = buf;
  return NN_OK;
}

static void to_host_order(rt_tensor *t) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  size_t size = rt_dtype_size(t->dtype);
  uint8_t *p = t->data;
  for (size_t i = 0; size > 1 && i < t->nbytes; i += size)
    for (size_t a = 0, b = size - 1; a < b; a++, b--) {
      uint8_t x = p[i + a];
      p[i + a] = p[i + b];
      p[i + b] = x;
    }
#else
  (void)t;
#endif
}

/* Opens path for gzread, with its size. */
static nn_status open_gz(const char *path, gzFile *gz, int64_t *fsize) {
  int fd;
  nn_status s = rt_file_open_fd(path, &fd, fsize);
  if (s != NN_OK) return s;
  *gz = gzdopen(fd, "rb");
  if (!*gz) {
    close(fd);
    return rt_error(NN_ERR_NOMEM, "%s: cannot start zlib", path);
  }
  gzbuffer(*gz, 1u << 17);
  return NN_OK;
}

nn_status rt_idx_read(const char *path, rt_tensor *out) {
  if (!path || !out) return rt_error(NN_ERR_NULL, "rt_idx_read: NULL argument");
  memset(out, 0, sizeof *out);
  gzFile gz;
  int64_t fsize = -1;
  nn_status s = open_gz(path, &gz, &fsize);
  if (s != NN_OK) return s;
  bool direct = gzdirect(gz) == 1;
  rt_tensor t = {0};
  uint64_t nbytes = 0;
  size_t hdr = 0, got = 0;
  uint8_t *data = NULL;
  if ((s = read_header(gz, path, &t, &nbytes, &hdr)) != NN_OK) goto done;
  if (direct && (uint64_t)fsize - hdr != nbytes) {
    s = rt_error(NN_ERR_FORMAT, "%s: %s IDX data: expected %llu bytes, found "
                 "%llu", path, (uint64_t)fsize - hdr < nbytes ? "truncated"
                 : "trailing bytes after the", (unsigned long long)nbytes,
                 (unsigned long long)((uint64_t)fsize - hdr));
    goto done;
  }
  /* Plain files were checked above; gzip data grows from 1 MB. */
  s = read_data(gz, path, (size_t)nbytes, direct ? (size_t)nbytes : 1u << 20,
                &data);
  if (s != NN_OK) goto done;
  uint8_t extra[4096];
  if ((s = gz_fill(gz, path, extra, sizeof extra, &got)) != NN_OK) goto done;
  if (got) {
    s = rt_error(NN_ERR_FORMAT, "%s: trailing bytes after the IDX data: "
                 "expected %llu bytes, found %s%llu more", path,
                 (unsigned long long)nbytes, got == sizeof extra ? "at least "
                 : "", (unsigned long long)got);
    goto done;
  }
  t.data = data;
  t.nbytes = (size_t)nbytes;
  data = NULL;
  to_host_order(&t);
  *out = t;
done:
  rt_free(data);
  gzclose(gz);
  return s;
}
