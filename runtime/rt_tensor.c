/* rt_tensor.c — dtypes, rt_tensor helpers, and the file helpers every
 * format module shares: opening a regular file for reading (the one place
 * that refuses pipes and devices), reading a whole file under a size
 * limit, and atomic writes (temporary file in the same directory, fsync,
 * rename). See rt_io.h. */
#include "rt_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- dtypes -------------------------------------------------------------- */

static const struct {
  const char *name; /* as printed in shapes: "f32[2,3]" */
  size_t size;      /* bytes per element */
} dtypes[RT_NUM_DTYPES] = {
    [RT_F32] = {"f32", 4}, [RT_F64] = {"f64", 8}, [RT_I32] = {"i32", 4},
    [RT_I64] = {"i64", 8}, [RT_U8] = {"u8", 1},   [RT_I8] = {"i8", 1},
    [RT_I16] = {"i16", 2}, [RT_BOOL] = {"bool", 1},
};

bool rt_dtype_valid(rt_dtype t) {
  return (unsigned)t < RT_NUM_DTYPES;
}

const char *rt_dtype_name(rt_dtype t) {
  return rt_dtype_valid(t) ? dtypes[t].name : "?";
}

size_t rt_dtype_size(rt_dtype t) {
  return rt_dtype_valid(t) ? dtypes[t].size : 0;
}

bool rt_dtype_parse(const char *name, rt_dtype *out) {
  if (!name) return false;
  for (int i = 0; i < RT_NUM_DTYPES; i++)
    if (strcmp(name, dtypes[i].name) == 0) {
      if (out) *out = (rt_dtype)i;
      return true;
    }
  return false;
}

/* ---- tensors ------------------------------------------------------------- */

void rt_tensor_free(rt_tensor *t) {
  if (!t) return;
  rt_free(t->name);
  if (!t->borrowed) rt_free(t->data);
  memset(t, 0, sizeof *t);
}

int64_t rt_tensor_numel(const rt_tensor *t) {
  if (!t || t->rank < 0 || t->rank > RT_MAX_RANK) return -1;
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    int64_t d = t->shape[i];
    if (d < 0) return -1;
    if (d != 0 && n > INT64_MAX / d) return -1;
    n *= d;
  }
  return n;
}

double rt_tensor_get(const rt_tensor *t, int64_t i) {
  switch (t->dtype) {
  case RT_F32: return ((const float *)t->data)[i];
  case RT_F64: return ((const double *)t->data)[i];
  case RT_I32: return ((const int32_t *)t->data)[i];
  case RT_I64: return (double)((const int64_t *)t->data)[i];
  case RT_U8: return ((const uint8_t *)t->data)[i];
  case RT_I8: return ((const int8_t *)t->data)[i];
  case RT_I16: return ((const int16_t *)t->data)[i];
  case RT_BOOL: return ((const uint8_t *)t->data)[i] != 0;
  }
  return 0;
}

char *rt_tensor_shape_str(const rt_tensor *t, char *buf, size_t n) {
  if (!buf || n == 0) return buf;
  if (!t) {
    snprintf(buf, n, "(null)");
    return buf;
  }
  size_t len = (size_t)snprintf(buf, n, "%s[", rt_dtype_name(t->dtype));
  int rank = t->rank < 0 ? 0 : t->rank > RT_MAX_RANK ? RT_MAX_RANK : t->rank;
  for (int i = 0; i < rank && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? "," : "",
                            (long long)t->shape[i]);
  if (len < n) snprintf(buf + len, n - len, "]");
  return buf;
}

nn_status rt_shape_nbytes(rt_dtype dt, int rank, const int64_t *shape,
                          size_t *nbytes) {
  if (!rt_dtype_valid(dt))
    return rt_error(NN_ERR_RANGE, "invalid dtype %d", (int)dt);
  if (rank < 0 || rank > RT_MAX_RANK)
    return rt_error(NN_ERR_RANGE, "rank %d is outside 0..%d", rank,
                    RT_MAX_RANK);
  /* Bound by INT64_MAX too, so numel and byte counts fit both types. */
  uint64_t limit = SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX;
  uint64_t bytes = rt_dtype_size(dt);
  for (int i = 0; i < rank; i++) {
    if (shape[i] < 0)
      return rt_error(NN_ERR_RANGE, "dimension %d is negative (%lld)", i,
                      (long long)shape[i]);
    uint64_t d = (uint64_t)shape[i];
    if (d != 0 && bytes > limit / d)
      return rt_error(NN_ERR_RANGE, "the size of a %s tensor with dimension "
                      "%d = %lld overflows", rt_dtype_name(dt), i,
                      (long long)shape[i]);
    bytes *= d;
  }
  *nbytes = (size_t)bytes;
  return NN_OK;
}

nn_status rt_tensor_alloc(rt_tensor *t, const char *name, rt_dtype dt,
                          int rank, const int64_t *shape) {
  if (!t || (rank > 0 && !shape)) return rt_error(NN_ERR_NULL, "rt_tensor_alloc: NULL argument");
  memset(t, 0, sizeof *t);
  size_t nbytes;
  if (rt_shape_nbytes(dt, rank, shape, &nbytes) != NN_OK) return NN_ERR_ARG;
  if (name) {
    size_t len = strlen(name);
    t->name = rt_alloc(len + 1);
    if (!t->name) return NN_ERR_NOMEM;
    memcpy(t->name, name, len + 1);
  }
  t->data = rt_calloc(1, nbytes);
  if (!t->data) {
    rt_tensor_free(t);
    return NN_ERR_NOMEM;
  }
  t->dtype = dt;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
  t->nbytes = nbytes;
  return NN_OK;
}

nn_status rt_tensor_check(const rt_tensor *t, const char *what) {
  if (!t) return rt_error(NN_ERR_NULL, "%s: tensor is NULL", what);
  const char *nm = t->name ? t->name : "(unnamed)";
  if (!rt_dtype_valid(t->dtype))
    return rt_error(NN_ERR_ARG, "%s: tensor '%s' has invalid dtype %d", what,
                    nm, (int)t->dtype);
  size_t nbytes;
  if (rt_shape_nbytes(t->dtype, t->rank, t->shape, &nbytes) != NN_OK) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", rt_last_error());
    return rt_error(NN_ERR_ARG, "%s: tensor '%s': %s", what, nm, msg);
  }
  char shp[128];
  if (nbytes != t->nbytes)
    return rt_error(NN_ERR_ARG, "%s: tensor '%s' is %s (%zu bytes) but its "
                    "nbytes is %zu", what, nm,
                    rt_tensor_shape_str(t, shp, sizeof shp), nbytes,
                    t->nbytes);
  if (nbytes && !t->data)
    return rt_error(NN_ERR_ARG, "%s: tensor '%s' has NULL data", what, nm);
  return NN_OK;
}

/* ---- reading files ------------------------------------------------------- */

/* What a file that is not a regular file is, for messages. */
static const char *file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a named pipe (FIFO)";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

static nn_status not_regular(const char *path, mode_t m) {
  return rt_error(NN_ERR_IO, "%s: cannot read %s; expected a regular file", path, file_kind(m));
}

nn_status rt_file_open_fd(const char *path, int *out, int64_t *size) {
  *out = -1;
  *size = 0;
  if (!path) return rt_error(NN_ERR_NULL, "no file name");
  /* stat first: opening a FIFO without a writer would wait forever, and
   * opening some devices has effects of its own */
  struct stat st;
  if (stat(path, &st) != 0)
    return rt_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return not_regular(path, st.st_mode);
  /* O_NONBLOCK in case it was swapped for a FIFO since: then the open
   * returns at once and fstat refuses it */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return rt_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int flags;
  if (fstat(fd, &st) != 0 || (flags = fcntl(fd, F_GETFL)) < 0 ||
      fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    return rt_error(NN_ERR_IO, "%s: cannot read: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return not_regular(path, st.st_mode);
  }
  *out = fd;
  *size = (int64_t)st.st_size;
  return NN_OK;
}

nn_status rt_file_open_read(const char *path, FILE **out, int64_t *size) {
  *out = NULL;
  int fd;
  nn_status s = rt_file_open_fd(path, &fd, size);
  if (s != NN_OK) return s;
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    int e = errno;
    close(fd);
    return rt_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(e));
  }
  *out = f;
  return NN_OK;
}

nn_status rt_file_read_exact(FILE *f, const char *path, const char *what,
                             size_t n, uint8_t **out) {
  *out = NULL;
  uint8_t *buf = rt_alloc(n);
  if (!buf)
    return rt_error(NN_ERR_NOMEM, "%s: out of memory for %s (%zu bytes)", path,
                    what, n);
  size_t got = fread(buf, 1, n, f);
  if (got != n) {
    nn_status s = ferror(f)
        ? rt_error(NN_ERR_IO, "%s: read error: %s", path, strerror(errno))
        : rt_error(NN_ERR_FORMAT, "%s: truncated: %s needs %zu bytes, "
                   "found %zu", path, what, n, got);
    rt_free(buf);
    return s;
  }
  *out = buf;
  return NN_OK;
}

nn_status rt_file_read_stream(FILE *f, const char *path, size_t max,
                              size_t hint, uint8_t **bytes, size_t *len) {
  *bytes = NULL;
  *len = 0;
  /* room for one byte more than expected, so a file that grew is noticed,
   * and for the NUL that ends text */
  size_t cap = (hint < max ? hint : max) + 1, n = 0;
  uint8_t *buf = rt_alloc(cap);
  if (!buf)
    return rt_error(NN_ERR_NOMEM, "%s: out of memory for its %zu bytes", path,
                    cap - 1);
  for (;;) {
    if (n == cap) {
      if (n > max) break;
      uint8_t *nb = rt_grow(buf, &cap, cap + 1, 1);
      if (!nb) {
        rt_free(buf);
        return rt_error(NN_ERR_NOMEM, "%s: out of memory reading it (%zu "
                        "bytes so far)", path, n);
      }
      buf = nb;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    int e = errno;
    rt_free(buf);
    return rt_error(NN_ERR_IO, "%s: read error: %s", path, strerror(e));
  }
  if (n > max) {
    rt_free(buf);
    return rt_error(NN_ERR_RANGE, "%s: larger than the limit of %zu bytes",
                    path, max);
  }
  if (n == cap) { /* exactly full: make room for the NUL */
    uint8_t *nb = rt_grow(buf, &cap, cap + 1, 1);
    if (!nb) {
      rt_free(buf);
      return rt_error(NN_ERR_NOMEM, "%s: out of memory for its %zu bytes",
                      path, n);
    }
    buf = nb;
  }
  buf[n] = 0;
  *bytes = buf;
  *len = n;
  return NN_OK;
}

nn_status rt_file_read_all(const char *path, size_t max, uint8_t **bytes,
                           size_t *len) {
  if (!path || !bytes || !len)
    return rt_error(NN_ERR_NULL, "rt_file_read_all: NULL argument");
  *bytes = NULL;
  *len = 0;
  FILE *f;
  int64_t size;
  nn_status s = rt_file_open_read(path, &f, &size);
  if (s != NN_OK) return s;
  if ((uint64_t)size > max) {
    fclose(f);
    return rt_error(NN_ERR_RANGE, "%s: %lld bytes is larger than the limit "
                    "of %zu bytes", path, (long long)size, max);
  }
  uint8_t *buf;
  size_t got;
  s = rt_file_read_stream(f, path, max, (size_t)size, &buf, &got);
  fclose(f);
  if (s != NN_OK) return s;
  if (got != (size_t)size) {
    rt_free(buf);
    return rt_error(NN_ERR_IO, "%s: the file changed size while being read "
                    "(expected %lld bytes)", path, (long long)size);
  }
  *bytes = buf;
  *len = got;
  return NN_OK;
}

/* ---- atomic writes ------------------------------------------------------- */

void rt_atomic_abort(rt_atomic_file *af) {
  if (!af) return;
  if (af->f) fclose(af->f);
  if (af->tmp_path) {
    unlink(af->tmp_path);
    rt_free(af->tmp_path);
  }
  af->f = NULL;
  af->tmp_path = NULL;
}

/* The directory of path into buf ("." for a bare name); false if it does
 * not fit. */
static bool parent_dir(const char *path, char *buf, size_t n) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(buf, n, ".");
  else if (slash == path) snprintf(buf, n, "/");
  else if ((size_t)(slash - path) < n) snprintf(buf, n, "%.*s", (int)(slash - path), path);
  else return false;
  return true;
}

/* Removes the temporaries PATH.tmp.PID that writes of this same path left
 * when their process died mid-write (a kill during a save), which would
 * otherwise stay forever, each the size of the file. Only regular files
 * named exactly so, only when no process PID exists (kill(PID, 0) fails
 * with ESRCH: a live writer, also one we may not signal, keeps its file),
 * never our own. Best effort: errors leave the file. */
static void remove_stale_temporaries(const char *path) {
  char dir[4096];
  if (!parent_dir(path, dir, sizeof dir)) return;
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  size_t blen = strlen(base);
  DIR *d = opendir(dir);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    const char *name = e->d_name;
    if (strncmp(name, base, blen) || strncmp(name + blen, ".tmp.", 5)) continue;
    const char *digits = name + blen + 5;
    size_t nd = strspn(digits, "0123456789");
    if (nd == 0 || nd > 9 || digits[nd]) continue;
    long pid = strtol(digits, NULL, 10);
    struct stat st;
    if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      (void)unlinkat(dirfd(d), name, 0);
  }
  closedir(d);
}

nn_status rt_atomic_begin(rt_atomic_file *af, const char *path) {
  if (!af || !path) return rt_error(NN_ERR_NULL, "rt_atomic_begin: NULL argument");
  memset(af, 0, sizeof *af);
  af->path = path;
  /* the rename would replace a FIFO or a device (as root, /dev/null) with
   * a regular file, and fails late over a directory */
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
    return rt_error(NN_ERR_IO, "%s: is %s; expected a regular file to replace, or a new name", path,
                    file_kind(st.st_mode));
  remove_stale_temporaries(path);
  size_t len = strlen(path);
  size_t cap = len + 32;
  af->tmp_path = rt_alloc(cap);
  if (!af->tmp_path) return NN_ERR_NOMEM;
  snprintf(af->tmp_path, cap, "%s.tmp.%ld", path, (long)getpid());
  /* A stale temporary with our pid can only be from an earlier crash of a
   * process that had our pid: overwriting it is fine. */
  af->f = fopen(af->tmp_path, "wb");
  if (!af->f) {
    nn_status s = rt_error(NN_ERR_IO, "%s: cannot create the temporary file "
                           "%s: %s", path, af->tmp_path, strerror(errno));
    rt_free(af->tmp_path); /* not created: nothing to unlink */
    af->tmp_path = NULL;
    return s;
  }
  return NN_OK;
}

nn_status rt_atomic_check(const char *path) {
  rt_atomic_file af;
  nn_status s = rt_atomic_begin(&af, path);
  if (s) return s;
  rt_atomic_abort(&af);
  return NN_OK;
}

/* What names a file: its inode when it exists, else its directory's inode
 * and its name there. */
typedef struct FileId {
  dev_t dev;
  ino_t ino;
  bool exists;
  const char *base; /* when !exists: the name in the directory */
} FileId;

static bool file_id(const char *path, FileId *id) {
  struct stat st;
  if (stat(path, &st) == 0) {
    *id = (FileId){st.st_dev, st.st_ino, true, NULL};
    return true;
  }
  char dir[4096];
  if (errno != ENOENT || !parent_dir(path, dir, sizeof dir) || stat(dir, &st) != 0) return false;
  const char *slash = strrchr(path, '/');
  *id = (FileId){st.st_dev, st.st_ino, false, slash ? slash + 1 : path};
  return true;
}

bool rt_path_same(const char *a, const char *b) {
  if (!a || !b) return false;
  if (!strcmp(a, b)) return true;
  FileId x, y;
  if (!file_id(a, &x) || !file_id(b, &y)) return false;
  return x.exists == y.exists && x.dev == y.dev && x.ino == y.ino && (x.exists || !strcmp(x.base, y.base));
}

nn_status rt_atomic_write(rt_atomic_file *af, const void *p, size_t n) {
  if (!af || !af->f) return rt_error(NN_ERR_ARG, "rt_atomic_write: not open");
  if (n && fwrite(p, 1, n, af->f) != n) {
    nn_status s = rt_error(NN_ERR_IO, "%s: write error: %s", af->path,
                           strerror(errno));
    rt_atomic_abort(af);
    return s;
  }
  return NN_OK;
}

/* After the rename, the new directory entry is durable only once the
 * directory itself is synced. Failure here cannot be undone, so ignore it. */
static void sync_parent_dir(const char *path) {
  char dir[4096];
  if (!parent_dir(path, dir, sizeof dir)) return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)fsync(fd);
  close(fd);
}

nn_status rt_atomic_commit(rt_atomic_file *af) {
  if (!af || !af->f) return rt_error(NN_ERR_ARG, "rt_atomic_commit: not open");
  nn_status s = NN_OK;
  if (fflush(af->f) != 0 || fsync(fileno(af->f)) != 0)
    s = rt_error(NN_ERR_IO, "%s: write error: %s", af->path, strerror(errno));
  int rc = fclose(af->f);
  af->f = NULL;
  if (s == NN_OK && rc != 0)
    s = rt_error(NN_ERR_IO, "%s: write error: %s", af->path, strerror(errno));
  if (s == NN_OK && rename(af->tmp_path, af->path) != 0)
    s = rt_error(NN_ERR_IO, "%s: cannot rename %s over it: %s", af->path,
                 af->tmp_path, strerror(errno));
  if (s != NN_OK) {
    rt_atomic_abort(af);
    return s;
  }
  rt_free(af->tmp_path);
  af->tmp_path = NULL;
  sync_parent_dir(af->path);
  return NN_OK;
}
