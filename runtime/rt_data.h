/* rt_data.h — datasets for the training program (rt_data.c): loading a
 * train block's data source (IDX, .npy, CSV, text), checking it against
 * the shapes of the loss function's inputs, shuffling, and filling batches.
 *
 * A dataset keeps the file's elements as they were stored (Fashion-MNIST
 * stays u8: 47 MB rather than 188 MB of floats) and converts one batch at
 * a time into the model's dtype, multiplying features by the source's
 * scale. Everything that can be wrong with a file is found by
 * rt_data_load, before training starts: a bad header, a truncated file, a
 * count mismatch between features and labels, a per-sample element count
 * that does not fit the model, a label out of range. Messages name the
 * file, what was expected and what was found.
 *
 * Text for character models: a file, or a directory whose regular files
 * (not symlinks, not files containing NUL bytes, so binary indexes are
 * skipped) are concatenated in name order. The text is normalized: a tab
 * becomes a space, other control characters except newline are dropped,
 * and bytes >= 0x80 are dropped, so the vocabulary is printable ASCII plus
 * newline (at most 96 characters). Sample i of a text dataset is the
 * window starting at character i*T: x = ids[iT .. iT+T), y = ids[iT+1 ..
 * iT+T]; windows do not overlap. */
#ifndef NN_RT_DATA_H
#define NN_RT_DATA_H

#include "rt_io.h"
#include "rt_model.h"

/* Kinds of data source: the values of rt_train_desc.data_kind/test_kind. */
enum { RT_DATA_NONE = 0, RT_DATA_IDX = 1, RT_DATA_NPY = 2, RT_DATA_CSV = 3, RT_DATA_TEXT = 4 };

/* A data source: a train block's `data = ...` or `test = ...`, or a flag. */
typedef struct rt_source {
  int kind;             /* RT_DATA_* */
  const char *path[2];  /* idx, npy: features, labels; csv, text: path[0] only */
  double scale;         /* idx, npy, csv: features are multiplied by it */
  int64_t label_col;    /* csv: the label column, -1 = the last */
  double split;         /* text: fraction held out when data and test are one source */
} rt_source;

/* "idx", "npy", "csv", "text" or "none". */
const char *rt_data_kind_name(int kind);
/* True when two sources read the same files the same way. */
bool rt_source_same(const rt_source *a, const rt_source *b);

/* What the model takes: the input slots of the loss function. */
typedef struct rt_data_shape {
  rt_slot x, y;         /* x[B, ...] features or ids, y[B, ...] targets */
  int64_t batch;        /* B: x.shape[0] */
  int64_t x_per, y_per; /* elements per sample (the shape without B) */
  int64_t nclasses;     /* labels must be < nclasses when > 0 (i32 targets) */
} rt_data_shape;

/* Fills sh from the loss function of d (two RT_IN_INPUT arguments sharing
 * their first axis). NN_ERR_MISMATCH with a message otherwise. */
nn_status rt_data_shape_of(const rt_model_desc *d, rt_data_shape *sh);
/* "f32[128,784]" for a slot. */
char *rt_slot_str(const rt_slot *s, char *buf, size_t n);

/* A loaded dataset. Zeroed is empty; free with rt_data_free. */
typedef struct rt_dataset {
  char what[600];       /* the file(s), for messages */
  int64_t n;            /* samples (text: windows of T characters) */
  rt_tensor x, y;       /* idx, npy, csv: the stored features [N, ...] and labels [N, ...] */
  double scale;         /* features are multiplied by it in batches */
  const int32_t *ids;   /* text: character ids (borrowed: see rt_text_corpus) */
  int64_t nids;         /* text: number of ids */
  int64_t T;            /* text: window length */
  uint64_t fingerprint; /* FNV-1a of the content: a resumed run checks it */
} rt_dataset;

void rt_data_free(rt_dataset *ds);

/* Loads an idx/npy/csv source and checks it against sh. `limit` > 0 keeps
 * only the first `limit` samples. On failure *out is empty and the message
 * names the file. */
nn_status rt_data_load(const rt_source *src, const rt_data_shape *sh, int64_t limit, rt_dataset *out);

/* ---- text ---------------------------------------------------------------- */

/* Normalizes text in place (tab -> space; other control bytes except '\n'
 * and bytes >= 0x80 dropped); returns the new length. */
size_t rt_text_normalize(uint8_t *s, size_t n);

/* A text source read and normalized: the characters, how many files they
 * came from, and their ids under a vocabulary. */
typedef struct rt_text_corpus {
  uint8_t *text;        /* normalized bytes, NUL-terminated (rt_alloc'd) */
  size_t len;
  int nfiles;           /* files read (1 for a plain file) */
  int nskipped;         /* files of a directory skipped (they contain NUL bytes) */
  int32_t *ids;         /* len ids once rt_text_encode succeeded, else NULL */
} rt_text_corpus;

/* Reads PATH (a file, or the regular non-symlink files of a directory in
 * name order, skipping those with NUL bytes) and normalizes it. An empty
 * result is an error naming the path. */
nn_status rt_text_load(const char *path, rt_text_corpus *c);
/* ids = the vocabulary's ids of c->text; a character outside it is
 * NN_ERR_MISMATCH naming `what` (the text), the offset and the character,
 * and `vocab_from`, where the vocabulary came from, unless NULL (e.g.
 * "metadata 'vocab' of c.st"). */
nn_status rt_text_encode(rt_text_corpus *c, const rt_vocab *v, const char *what, const char *vocab_from);
void rt_text_free(rt_text_corpus *c);

/* Characters of a text of `len` used for training when the last `split`
 * fraction is held out: floor(len * (1 - split)). */
size_t rt_text_split_point(size_t len, double split);
/* Windows of length T (each needs T+1 characters) in n ids: (n - 1) / T. */
int64_t rt_text_windows(int64_t n, int64_t T);
/* A dataset over ids[0..n): windows of sh->x.shape[1]. Refuses a shape
 * that is not x: i32[B, T], y: i32[B, T], and text too short for one
 * window. The ids are borrowed. */
nn_status rt_data_text(const int32_t *ids, int64_t n, const rt_data_shape *sh, const char *what, rt_dataset *out);

/* ---- batches -------------------------------------------------------------- */

/* A permutation of 0..n-1, a pure function of (n, seed, epoch): the
 * training order of an epoch (Fisher-Yates on Philox numbers). */
void rt_data_order(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch);

/* Fills a batch: row r of x and y is sample idx[r] for r < nrows; the
 * rows nrows..B-1 (padding of a last partial batch) repeat sample idx[0].
 * x and y have the slots' shapes and dtypes. */
void rt_data_batch(const rt_dataset *ds, const rt_data_shape *sh, const int64_t *idx, int64_t nrows, void *x,
                   void *y);

/* FNV-1a 64 over bytes, continuing from h (start with RT_FNV_INIT). */
#define RT_FNV_INIT 0xcbf29ce484222325ull
uint64_t rt_fnv1a(uint64_t h, const void *p, size_t n);

#endif
