/* rt_io.h — tensors and the files that hold them.
 *
 * Readers for the data and parameter formats nnc's users exchange (NumPy
 * .npy, safetensors, IDX and IDX.gz, CSV of numbers, plain text for
 * character models) and writers for .npy and safetensors.
 *
 * The rules every function here follows:
 *   - Bad input never crashes, hangs or corrupts. Only regular files are
 *     read (rt_file_open_fd refuses pipes and devices). A malformed file gives
 *     NN_ERR_FORMAT and a message (rt_last_error()) naming the file, what was
 *     expected and what was found. A missing or unreadable file gives
 *     NN_ERR_IO with strerror. Sizes claimed by a header are checked against
 *     the file before anything that large is allocated.
 *   - Memory comes from rt_alloc only; a failed allocation gives NN_ERR_NOMEM
 *     and frees everything the call had allocated.
 *   - Writers are atomic: they write `path + ".tmp.<pid>"` in the same
 *     directory, fflush + fsync it, and rename it over `path`. On failure the
 *     temporary is removed and an existing `path` is left untouched. A
 *     temporary that a killed process left is removed by the next write of
 *     the same path (rt_atomic_begin).
 *   - On failure, output structs are left zeroed, so freeing them is safe.
 *     On entry, outputs are overwritten without being freed.
 *
 * Data is stored and returned in host (little-endian) byte order. */
#ifndef NN_RT_IO_H
#define NN_RT_IO_H

#include "rt_core.h"

#include <stdio.h>

/* ---- dtypes and tensors ------------------------------------------------ */

/* Element types. Values are stable: they may be stored in files. */
typedef enum rt_dtype {
  RT_F32 = 0,  /* IEEE binary32 */
  RT_F64 = 1,  /* IEEE binary64 */
  RT_I32 = 2,  /* int32_t */
  RT_I64 = 3,  /* int64_t */
  RT_U8 = 4,   /* uint8_t */
  RT_I8 = 5,   /* int8_t */
  RT_I16 = 6,  /* int16_t */
  RT_BOOL = 7  /* one byte, 0 or 1 (readers reject other values) */
} rt_dtype;
#define RT_NUM_DTYPES 8

/* "f32", "f64", "i32", "i64", "u8", "i8", "i16", "bool"; "?" if invalid. */
const char *rt_dtype_name(rt_dtype t);
/* Bytes per element; 0 for an invalid dtype. */
size_t rt_dtype_size(rt_dtype t);
/* True if `t` is one of the RT_* values above. */
bool rt_dtype_valid(rt_dtype t);
/* Inverse of rt_dtype_name: sets *out and returns true if `name` is one. */
bool rt_dtype_parse(const char *name, rt_dtype *out);

#define RT_MAX_RANK 8

/* A dense, C-order (row-major) tensor. */
typedef struct rt_tensor {
  char *name;         /* owned (rt_alloc), may be NULL (e.g. read from .npy) */
  rt_dtype dtype;     /* element type */
  int rank;           /* 0..RT_MAX_RANK; 0 is a scalar with one element */
  int64_t shape[RT_MAX_RANK]; /* shape[0..rank): each >= 0; the rest are 0 */
  void *data;         /* nbytes of elements; owned unless `borrowed`. Readers
                         always return non-NULL data, even for 0 bytes;
                         writers accept NULL when nbytes == 0 */
  size_t nbytes;      /* numel * rt_dtype_size(dtype), exactly */
  bool borrowed;      /* data not freed by rt_tensor_free */
} rt_tensor;

/* Frees the name and owned data and zeroes the struct; NULL is ok. */
void rt_tensor_free(rt_tensor *t);
/* Product of shape[0..rank) (1 for rank 0); -1 if it overflows int64 or
 * a dimension is negative. */
int64_t rt_tensor_numel(const rt_tensor *t);
/* Element i (row-major) as a double: exact for every dtype but i64 beyond
 * 2^53; a bool is 0 or 1 (any nonzero byte is true). i is not checked. */
double rt_tensor_get(const rt_tensor *t, int64_t i);
/* "f32[128,784]" ("f32[]" for a scalar) into buf (truncated to n-1 chars,
 * always terminated when n > 0); returns buf. */
char *rt_tensor_shape_str(const rt_tensor *t, char *buf, size_t n);

/* Bytes of a dtype/shape: sets *nbytes and returns NN_OK, or NN_ERR_RANGE
 * (with a message) if a dimension is negative, the rank is outside
 * 0..RT_MAX_RANK, or the size overflows size_t / int64. */
nn_status rt_shape_nbytes(rt_dtype dt, int rank, const int64_t *shape,
                          size_t *nbytes);
/* Fills `t` with a fresh tensor: name copied (may be NULL), zeroed data
 * (non-NULL even for 0 bytes). NN_ERR_ARG for a bad dtype/rank/shape,
 * NN_ERR_NOMEM. On failure `t` is zeroed. */
nn_status rt_tensor_alloc(rt_tensor *t, const char *name, rt_dtype dt,
                          int rank, const int64_t *shape);
/* Checks a tensor a caller hands to a writer: valid dtype, rank 0..8,
 * shape >= 0, nbytes == numel * dtype size, data non-NULL when nbytes > 0.
 * NN_ERR_NULL / NN_ERR_ARG with a message starting with `what` (e.g. the
 * file being written). */
nn_status rt_tensor_check(const rt_tensor *t, const char *what);

/* ---- file helpers shared by the readers and writers -------------------- */

/* Opens `path` for reading when it is a regular file (or a symlink to
 * one); *size is its size in bytes. Every reader opens its files here, so
 * this is the one place that refuses what is not a regular file: a named
 * pipe (a FIFO without a writer would wait forever), a device (/dev/zero
 * never ends), a socket, a directory: NN_ERR_IO "PATH: cannot read a named
 * pipe (FIFO); expected a regular file", before anything is read. Opening
 * never blocks. NN_ERR_IO with strerror when it cannot be opened. */
nn_status rt_file_open_fd(const char *path, int *fd, int64_t *size);
/* The same as a stdio stream. */
nn_status rt_file_open_read(const char *path, FILE **out, int64_t *size);
/* Reads a whole file into a fresh rt_alloc'd buffer (NUL-terminated one past
 * *len, so text can be parsed in place). Files larger than `max` bytes
 * fail with NN_ERR_RANGE before anything is allocated; a failed allocation
 * is NN_ERR_NOMEM naming the file. */
nn_status rt_file_read_all(const char *path, size_t max, uint8_t **bytes,
                           size_t *len);
/* The one whole-file reader under rt_file_read_all, for streams of unknown
 * length too (the compiler reads sources from pipes: `nnc <(gen)`): reads f
 * to its end into a fresh rt_alloc'd, NUL-terminated buffer, sized first
 * for `hint` bytes and grown as needed. More than `max` bytes is
 * NN_ERR_RANGE, a read error NN_ERR_IO, a failed allocation NN_ERR_NOMEM,
 * each naming `path`; *bytes is NULL then. */
nn_status rt_file_read_stream(FILE *f, const char *path, size_t max,
                              size_t hint, uint8_t **bytes, size_t *len);

/* Reads n bytes from f (whose size the caller has checked) into a fresh
 * rt_alloc'd buffer (non-NULL even for n = 0). A short read is
 * NN_ERR_FORMAT "PATH: truncated: WHAT needs N bytes, found M"; a failed
 * allocation NN_ERR_NOMEM naming PATH and WHAT. */
nn_status rt_file_read_exact(FILE *f, const char *path, const char *what,
                             size_t n, uint8_t **out);

/* An atomic write in progress: begin, write*, then commit or abort. The
 * temporary's name depends only on the path and the process, so two threads
 * must not write the same path at the same time. */
typedef struct rt_atomic_file {
  FILE *f;          /* the temporary file; NULL once closed */
  char *tmp_path;   /* path + ".tmp.<pid>" (rt_alloc'd); NULL once removed
                       or renamed */
  const char *path; /* final path, borrowed from the caller */
} rt_atomic_file;
/* Creates the temporary file. NN_ERR_IO if it cannot (e.g. the directory
 * does not exist), or if path exists and is not a regular file (a
 * directory, a FIFO, a device: "PATH: is a named pipe (FIFO); expected a
 * regular file to replace, or a new name"; the rename would replace it);
 * nothing is left behind. First removes the temporaries of
 * the same path whose process no longer exists (`path.tmp.PID`, regular
 * files only; a live process's, also one we may not signal, stays). */
nn_status rt_atomic_begin(rt_atomic_file *af, const char *path);
/* Whether an atomic write of path can succeed, as far as can be known
 * before writing: rt_atomic_begin then rt_atomic_abort (path is a regular
 * file or new, the temporary can be created in its directory). For
 * programs that write later and want to fail first. */
nn_status rt_atomic_check(const char *path);
/* True when a and b name the same file: the same inode if both exist, the
 * same name in the same directory if neither does (so "./m.csv", "m.csv"
 * and a hard link are one file). */
bool rt_path_same(const char *a, const char *b);
/* Appends n bytes. On failure the write is aborted (temporary removed). */
nn_status rt_atomic_write(rt_atomic_file *af, const void *p, size_t n);
/* fflush + fsync + close, rename over `path`, then fsync the directory
 * (best effort). On failure the write is aborted and `path` untouched. */
nn_status rt_atomic_commit(rt_atomic_file *af);
/* Closes and removes the temporary; safe after a failed call, and on a
 * zeroed struct. Does not change rt_last_error(). */
void rt_atomic_abort(rt_atomic_file *af);

/* ---- NumPy .npy --------------------------------------------------------- */

/* Reads versions 1.0, 2.0 and 3.0 with dtypes <f4 <f8 <i4 <i8 |u1 |i1 <i2
 * |b1 ('=' is accepted as '<', and '<'/'=' as '|' for one-byte types);
 * big-endian '>' data is converted to host order. C order only: a
 * fortran_order True file is refused. The shape times the item size must
 * equal the data bytes exactly. out->name is NULL. */
nn_status rt_npy_read(const char *path, rt_tensor *out);
/* Writes version 1.0 (rank <= 8 always fits its 64 KB header), padded so
 * the data starts at a multiple of 64 bytes, atomically. t->name is
 * ignored. NN_ERR_ARG if rt_tensor_check refuses t (nothing is created). */
nn_status rt_npy_write(const char *path, const rt_tensor *t);

/* ---- safetensors --------------------------------------------------------- */

/* The contents of a safetensors file. */
typedef struct rt_tensorset {
  int n;            /* number of tensors */
  rt_tensor *t;     /* n tensors in header (JSON) order; names non-NULL */
  int nmeta;        /* number of "__metadata__" entries */
  char **meta_key, **meta_val; /* nmeta strings each, in header order */
  uint32_t data_crc32; /* CRC-32 (zlib's) of the data region as read: every
                          byte after the header, in file order */
} rt_tensorset;

/* Reads a safetensors file (8-byte little-endian header size N, N bytes of
 * JSON, then the data region). Dtypes F32 F64 I32 I64 U8 I8 I16 BOOL.
 * Validates strictly: N < 100 MB and N <= file size - 8; the header is
 * valid UTF-8 JSON (an object; duplicate keys refused); every entry has
 * exactly "dtype", "shape", "data_offsets"; data_offsets [begin, end] with
 * end - begin == numel * dtype size; regions do not overlap and cover the
 * data region exactly (no gap, no trailing bytes, not truncated);
 * "__metadata__" maps strings to strings. */
nn_status rt_st_read(const char *path, rt_tensorset *out);
/* The tensor named `name`, or NULL (also when s or name is NULL). */
const rt_tensor *rt_ts_find(const rt_tensorset *s, const char *name);
/* The metadata value for `key`, or NULL. */
const char *rt_ts_meta(const rt_tensorset *s, const char *key);
/* Metadata values read strictly (rt_parse_*): *present says whether `key`
 * is there; a value that is not what is expected is NN_ERR_FORMAT "PATH:
 * metadata 'KEY': expected an integer 0..10, found '-1'". An integer in
 * [lo, hi]; an unsigned one up to hi; a finite number in [lo, hi] (or
 * "nan" when nan_ok); exactly `digits` hex digits (at most 16). Absent,
 * *out is left as it was (the caller's default). */
nn_status rt_ts_meta_i64(const rt_tensorset *s, const char *path, const char *key, int64_t lo, int64_t hi,
                         int64_t *out, bool *present);
nn_status rt_ts_meta_u64(const rt_tensorset *s, const char *path, const char *key, uint64_t hi, uint64_t *out,
                         bool *present);
nn_status rt_ts_meta_f64(const rt_tensorset *s, const char *path, const char *key, double lo, double hi,
                         bool nan_ok, double *out, bool *present);
nn_status rt_ts_meta_hex(const rt_tensorset *s, const char *path, const char *key, int digits, uint64_t *out,
                         bool *present);
/* The CRC-32 that rt_st_write(path, t, n, ...) gives its data region (the
 * tensors' bytes in the order given), for a checksum in the metadata. */
uint32_t rt_st_data_crc32(const rt_tensor *t, int n);
/* Frees everything and zeroes the struct; NULL is ok. */
void rt_ts_free(rt_tensorset *s);
/* Writes n tensors (names required, distinct, valid UTF-8, not
 * "__metadata__"; data may be borrowed) in the given order, contiguous, plus
 * nmeta metadata strings (keys distinct), atomically. The header is padded
 * with spaces to a multiple of 8 bytes. NN_ERR_ARG for a bad tensor or
 * name (nothing is created), NN_ERR_IO for a failed write. */
nn_status rt_st_write(const char *path, const rt_tensor *t, int n,
                      const char *const *meta_key,
                      const char *const *meta_val, int nmeta);

/* ---- IDX (MNIST) ----------------------------------------------------------- */

/* Reads an IDX file, plain or gzip-compressed (detected by content). Element
 * types 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64, stored
 * big-endian and returned in host order as RT_U8, RT_I8, RT_I16, RT_I32,
 * RT_F32, RT_F64. Rank 1..RT_MAX_RANK, every dimension nonzero, total data
 * < 4 GB, and the data length exact (truncated or trailing bytes refused).
 * A corrupt gzip stream is NN_ERR_FORMAT. out->name is NULL. */
nn_status rt_idx_read(const char *path, rt_tensor *out);

/* ---- CSV of numbers ---------------------------------------------------------- */

/* One sample per line, comma-separated, optional spaces around fields, LF or
 * CRLF line ends. The first line is a header (skipped) if any field of it is
 * not a number. Column `label_col` (0-based; -1 = last) holds the label, a
 * non-negative decimal integer < 2^31; every other column is an f32 feature
 * (finite decimal numbers; "nan", "inf" and hex are refused). Empty lines
 * are refused except at the end of the file. Quoting is not supported.
 * Outputs: features f32 [N, F], labels i32 [N]. Errors name
 * file:line:column and the offending field. */
nn_status rt_csv_read(const char *path, int label_col, rt_tensor *features,
                      rt_tensor *labels);

/* ---- text for character models -------------------------------------------------- */

/* A character vocabulary: the sorted set of distinct bytes of a text. */
typedef struct rt_vocab {
  int n;              /* number of distinct bytes, 0..256 */
  uint8_t chars[256]; /* chars[0..n): the bytes, strictly increasing */
  int16_t id[256];    /* id[b] = index of byte b in chars, -1 when absent */
} rt_vocab;

/* Reads the file's bytes into a fresh rt_alloc'd buffer (*bytes is
 * NUL-terminated one past *len). Refuses empty files (NN_ERR_FORMAT) and
 * files over 1 GB (NN_ERR_RANGE). */
nn_status rt_text_read(const char *path, uint8_t **bytes, size_t *len);
/* The vocabulary of bytes[0..len). */
void rt_vocab_build(rt_vocab *v, const uint8_t *bytes, size_t len);
/* ids[i] = v->id[bytes[i]]. A byte not in the vocabulary gives NN_ERR_RANGE
 * naming the byte value and its offset (ids is then partly written). */
nn_status rt_vocab_encode(const rt_vocab *v, const uint8_t *bytes, size_t len,
                          int32_t *ids);
/* Lower-case hex of chars[0..n), 2n characters ("" for n = 0); rt_alloc'd,
 * NULL on allocation failure. */
char *rt_vocab_to_string(const rt_vocab *v);
/* Parses rt_vocab_to_string's format (either hex case). NN_ERR_FORMAT,
 * leaving *v empty, if the length is odd, a character is not hex, or the
 * bytes are not strictly increasing. */
nn_status rt_vocab_from_string(const char *s, rt_vocab *v);

#endif
