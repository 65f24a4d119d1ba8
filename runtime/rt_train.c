/* rt_train.c — the training program: rt_train_main reads the flags
 * (rt_train_args.c), loads and checks all data before anything else
 * (rt_data.c), creates the model, resumes from a checkpoint if asked, then
 * runs the loop:
 *
 *   for each epoch: order = shuffle(seed, epoch)
 *     for each full batch: lr = schedule(epoch, step); train_step; check
 *       the loss is finite; progress; a metrics row every ~1/20 epoch;
 *       a checkpoint every --checkpoint-every steps; stop on a signal
 *     evaluate; print the epoch's line; metrics, plot; checkpoint
 *
 * Determinism: the order of an epoch is a function of (seed, epoch), the
 * learning rate of (epoch, step), the kernels give the same bits for a
 * given thread count, so a run resumed from a checkpoint (parameters,
 * optimizer state, step, and in its metadata the position in the epoch)
 * ends with exactly the parameters of an uninterrupted run. The last
 * partial batch of an epoch's order is dropped: each epoch trains on
 * floor(N / B) batches, and the shuffle decides which samples sit out.
 *
 * Signals: SIGINT and SIGTERM set a flag; the loop finishes its step (or
 * stops an evaluation), writes a checkpoint, prints the command that
 * resumes, and returns 130. A second signal kills the process at once.
 *
 * Data parallelism (started by mpirun as P > 1 ranks, rt_mpi.h): every
 * rank loads the data and holds the model; the order of an epoch is the
 * same function of (seed, epoch) on every rank, and each step's global
 * batch of gbatch samples (the model's B) splits into P consecutive
 * shares of rows = B/P, rank r taking share r, so the union is the
 * single-process batch. A step is NAME_grad on the share (the loss a mean
 * over its rows), the sum of the gradients over the ranks (rt_dist_grad:
 * bucket by bucket as the gradient function announces them final, so the
 * sums overlap the rest of its backward pass) and of the losses, a
 * division by P, which makes the gradient the mean over
 * the global batch, and NAME_apply_update: every rank takes the same
 * step. The ranks agree before each step whether any of them was
 * signalled (rt_dist_any), so all stop at the same step; rank 0 alone
 * prints, writes metrics, plots and checkpoints; evaluation is sharded
 * (each rank evaluates every P-th test batch, rt_train_eval.c) and summed
 * to exactly the figures of one process. An error
 * on one rank aborts the job; a rank that stops answering is named by the
 * others within --mpi-timeout seconds. One process runs the fused
 * train_step as before. */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_train_internal.h"

/* Gradients are summed across ranks in buckets of at most this many
 * bytes (a larger parameter alone), each started as soon as its
 * gradients are final: small enough that the last layers' sum overlaps
 * the first layers' backward pass, large enough that the MLP and the CNN
 * make 2 or 3 sums a step (each costs a latency). */
#define GRAD_BUCKET_BYTES (1u << 20)

/* The signal that asked to stop (0: none). A signal handler can only
 * talk to the loop through a static. */
static volatile sig_atomic_t stop_signal;
static volatile int stop_flag; /* the same, as an int the evaluation polls */

static void on_signal(int sig) {
  if (stop_signal) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  stop_signal = sig;
  stop_flag = 1;
}

typedef struct Signals {
  struct sigaction old_int, old_term;
  bool installed;
} Signals;

static void signals_install(Signals *s) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART; /* a checkpoint being written is not disturbed */
  sigemptyset(&sa.sa_mask);
  stop_signal = 0;
  stop_flag = 0;
  sigaction(SIGINT, &sa, &s->old_int);
  sigaction(SIGTERM, &sa, &s->old_term);
  s->installed = true;
}

static void signals_restore(Signals *s) {
  if (!s->installed) return;
  sigaction(SIGINT, &s->old_int, NULL);
  sigaction(SIGTERM, &s->old_term, NULL);
  s->installed = false;
}

/* ---- messages ------------------------------------------------------------------------- */

static int fail(const Trainer *tr, const char *what) {
  fprintf(stderr, "%s: error: %s%s%s\n", tr->o->prog, what ? what : "", what ? ": " : "", rt_last_error());
  return 1;
}

/* 1234567 -> "1,234,567" */
static const char *commas(int64_t v, char *buf) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "%" PRId64, v < 0 ? -v : v), k = 0;
  if (v < 0) buf[k++] = '-';
  for (int i = 0; i < n; i++) {
    if (i && (n - i) % 3 == 0) buf[k++] = ',';
    buf[k++] = tmp[i];
  }
  buf[k] = 0;
  return buf;
}

static int64_t param_count(const rt_model_desc *d) {
  int64_t n = 0;
  for (int i = 0; i < d->nparams; i++) n += (int64_t)d->params[i].info.numel;
  return n;
}

static const char *opt_str(const rt_train_desc *t, char *buf, size_t n) {
  if (t->optimizer == 0)
    snprintf(buf, n, "sgd(momentum %g%s%s)", t->momentum, t->nesterov ? ", nesterov" : "",
             t->weight_decay > 0 ? ", weight decay" : "");
  else snprintf(buf, n, "%s(beta1 %g, beta2 %g, weight decay %g)", t->optimizer == 2 ? "adamw" : "adam", t->beta1,
                t->beta2, t->weight_decay);
  return buf;
}

/* ---- data ------------------------------------------------------------------------------ */

/* Text: read the source(s), fix the vocabulary (the checkpoint's, or the
 * training text's), split, encode, and make the datasets. */
static nn_status load_text(Trainer *tr, const ResumeMeta *ckpt) {
  TrainOpts *o = tr->o;
  nn_status s = rt_text_load(o->data.path[0], &tr->text);
  if (s) return s;
  if (o->limit > 0 && (size_t)o->limit < tr->text.len) tr->text.len = (size_t)o->limit;
  bool split = o->test.kind == RT_DATA_TEXT && rt_source_same(&o->data, &o->test);
  size_t ntrain = split ? rt_text_split_point(tr->text.len, o->data.split) : tr->text.len;
  bool from_ckpt = ckpt && ckpt->has_vocab;
  if (from_ckpt) tr->vocab = ckpt->vocab;
  else rt_vocab_build(&tr->vocab, tr->text.text, tr->text.len);
  if (tr->sh.nclasses <= 0)
    fprintf(stderr, "%s: warning: the train block names no generate function, so the vocabulary of %d characters "
            "cannot be checked against the model's\n", o->prog, tr->vocab.n);
  if (tr->sh.nclasses > 0 && tr->vocab.n > tr->sh.nclasses)
    return from_ckpt ? rt_error(NN_ERR_MISMATCH, "%s: metadata 'vocab' has %d characters; expected at most %" PRId64
                                " (the model's vocabulary size V)", o->resume, tr->vocab.n, tr->sh.nclasses)
                     : rt_error(NN_ERR_MISMATCH, "%s: %d distinct characters; expected at most %" PRId64
                                " (the model's vocabulary size V)", o->data.path[0], tr->vocab.n, tr->sh.nclasses);
  char vf_buf[600];
  const char *vf = NULL; /* where the vocabulary came from, when not from this text */
  if (from_ckpt) snprintf(vf_buf, sizeof vf_buf, "metadata 'vocab' of %s", o->resume), vf = vf_buf;
  if ((s = rt_text_encode(&tr->text, &tr->vocab, o->data.path[0], vf))) return s;
  if ((s = rt_data_text(tr->text.ids, (int64_t)ntrain, &tr->sh, o->data.path[0], &tr->train))) return s;
  const int32_t *vids = NULL;
  size_t nval = 0;
  if (split) {
    vids = tr->text.ids + ntrain;
    nval = tr->text.len - ntrain;
    char what[600];
    snprintf(what, sizeof what, "%s (the last %g held out)", o->data.path[0], o->data.split);
    s = rt_data_text(vids, (int64_t)nval, &tr->sh, what, &tr->test);
  } else if (o->test.kind == RT_DATA_TEXT) {
    s = rt_text_load(o->test.path[0], &tr->test_text);
    if (!s) s = rt_text_encode(&tr->test_text, &tr->vocab, o->test.path[0], vf);
    if (!s) s = rt_data_text(tr->test_text.ids, (int64_t)tr->test_text.len, &tr->sh, o->test.path[0], &tr->test);
    vids = tr->test_text.ids;
    nval = tr->test_text.len;
  } else if (o->test.kind != RT_DATA_NONE) {
    s = rt_error(NN_ERR_MISMATCH, "the test source is %s(), but a text model evaluates on text", rt_data_kind_name(o->test.kind));
  }
  if (s) return s;
  tr->has_test = nval > 0;
  tr->unigram_bits = rt_unigram_bits(tr->text.ids, ntrain, vids, nval, tr->vocab.n);
  return NN_OK;
}

static nn_status load_data(Trainer *tr, const ResumeMeta *ckpt) {
  TrainOpts *o = tr->o;
  tr->unigram_bits = NAN;
  if (o->data.kind == RT_DATA_NONE)
    return rt_error(NN_ERR_ARG, "no training data: the train block has no 'data = ...' (give --data)");
  tr->is_text = o->data.kind == RT_DATA_TEXT;
  if (tr->is_text) return load_text(tr, ckpt);
  nn_status s = rt_data_load(&o->data, &tr->sh, o->limit, &tr->train);
  if (!s && o->test.kind == RT_DATA_TEXT)
    s = rt_error(NN_ERR_MISMATCH, "the test source is text(), but the training data is %s()", rt_data_kind_name(o->data.kind));
  if (!s && o->test.kind != RT_DATA_NONE) {
    s = rt_data_load(&o->test, &tr->sh, 0, &tr->test);
    tr->has_test = !s;
  }
  return s;
}

static void print_data(const Trainer *tr) {
  char a[32], b[32], c[32];
  const TrainOpts *o = tr->o;
  int64_t B = tr->gbatch;
  if (tr->is_text) {
    printf("text: %s%s characters from %s (%d file%s%s), vocabulary of %d (printable ASCII and newline)\n",
           o->limit > 0 && tr->text.len == (size_t)o->limit ? "the first " : "", commas((int64_t)tr->text.len, a),
           o->data.path[0], tr->text.nfiles, tr->text.nfiles == 1 ? "" : "s",
           tr->text.nskipped ? ", binary files skipped" : "", tr->vocab.n);
    printf("training: %s windows of %" PRId64 " characters; validation: %s windows", commas(tr->train.n, b),
           tr->train.T, commas(tr->has_test ? tr->test.n : 0, c));
    if (tr->has_test) printf("; unigram baseline %.3f bits/char", tr->unigram_bits);
    printf("\n");
  } else {
    printf("training data: %s samples (%s); test data: ", commas(tr->train.n, a), tr->train.what);
    if (tr->has_test) printf("%s samples (%s)\n", commas(tr->test.n, b), tr->test.what);
    else printf("none\n");
  }
  int64_t left = tr->train.n % B;
  printf("%" PRId64 " batches of %" PRId64 " per epoch", tr->spe, B);
  if (left) printf("; the last partial batch (%" PRId64 " samples, a different set each epoch) is dropped", left);
  printf("\n");
  if (tr->dist.size > 1)
    printf("data parallel: %d MPI ranks, %" PRId64 " samples of each batch per rank%s\n", tr->dist.size, tr->rows,
           tr->o->per_rank_batch ? " (--per-rank-batch)" : "");
}

/* ---- the loop -------------------------------------------------------------------------- */

static void eval_line(const Trainer *tr, const EvalResult *e, char *buf, size_t n) {
  if (!tr->has_test) {
    buf[0] = 0;
    return;
  }
  if (tr->is_text) {
    snprintf(buf, n, "validation loss %.4f (%.3f bits/char; unigram baseline %.3f)", e->loss, e->loss / log(2.0),
             tr->unigram_bits);
  } else if (e->has_acc) {
    snprintf(buf, n, "test loss %.4f, accuracy %.2f%% (%" PRId64 "/%" PRId64 ")", e->loss,
             100.0 * (double)e->correct / (double)(e->count ? e->count : 1), e->correct, e->count);
  } else {
    snprintf(buf, n, "test loss %.4f", e->loss);
  }
}

static double seconds(const Trainer *tr) { return tr->elapsed_before + rt_train_now() - tr->t0; }

/* The end of epoch tr->epoch: evaluate, report, checkpoint. Returns 1 on
 * an error, 0 otherwise (an interrupted evaluation leaves pending_eval). */
static int end_epoch(Trainer *tr) {
  EvalResult e = {.loss = NAN};
  if (tr->has_test) {
    /* ranks stop together before a step, so a signal does not cut one rank's evaluation short */
    if (rt_train_evaluate(tr, &tr->test, &e, tr->dist.size > 1 ? NULL : &stop_flag)) return fail(tr, "evaluation");
    if (e.interrupted) return 0;
    tr->last_eval = e;
    tr->evaluated = true;
  }
  rt_progress_clear(&tr->prog);
  HistRow r = {.is_epoch = true, .epoch = (double)tr->epoch, .step = tr->epoch * tr->spe,
               .train_loss = tr->last_epoch_loss, .test_loss = tr->has_test ? e.loss : NAN,
               .test_acc = e.has_acc ? (double)e.correct / (double)e.count : NAN, .lr = tr->lr_now,
               .seconds = seconds(tr)};
  if (rt_hist_add(&tr->hist, &r)) return fail(tr, NULL);
  tr->pending_eval = false;
  if (!tr->o->quiet) {
    char ev[256];
    eval_line(tr, &e, ev, sizeof ev);
    printf("epoch %" PRId64 "/%" PRId64 ": train loss %.4f%s%s  (%.1f s)\n", tr->epoch, tr->o->epochs,
           tr->last_epoch_loss, tr->has_test ? ", " : "", ev, r.seconds);
    fflush(stdout);
  }
  /* the checkpoint first: a report that cannot be written loses nothing */
  if (rt_train_save(tr)) return fail(tr, "writing the checkpoint");
  if (rt_train_write_reports(tr)) {
    fail(tr, "writing the metrics");
    fprintf(stderr, "%s: the checkpoint of epoch %" PRId64 " is written to %s; resume with:\n  ", tr->o->prog,
            tr->epoch, tr->o->checkpoint);
    rt_train_print_resume(tr->o, tr->o->checkpoint, stderr);
    return 1;
  }
  return 0;
}

static int interrupted(Trainer *tr) {
  rt_progress_clear(&tr->prog);
  if (rt_train_save(tr)) return fail(tr, "writing the checkpoint");
  rt_train_write_reports(tr);
  if (tr->dist.rank != 0) return 130;
  fprintf(stderr, "\n%s: %s at step %" PRId64 " (epoch %" PRId64 ", %" PRId64 "/%" PRId64 " steps); checkpoint written to %s\n"
                  "resume with:\n  ", tr->o->prog, stop_signal == SIGTERM ? "terminated" : "interrupted",
          tr->epoch * tr->spe + tr->pos, tr->epoch + 1, tr->pos, tr->spe, tr->o->checkpoint);
  if (tr->dist.size > 1) fprintf(stderr, "mpirun -np %d ", tr->dist.size); /* or any other number of ranks */
  rt_train_print_resume(tr->o, tr->o->checkpoint, stderr);
  return 130;
}

/* The loss the last call wrote to tr->loss (f32 or f64, as function fn returns it). */
static double loss_value(const Trainer *tr, int fn) {
  const rt_func_desc *f = &tr->d->funcs[fn];
  int dt = RT_DT_F32;
  for (int i = 0; i < f->nres; i++)
    if (f->res[i].role == RT_OUT_LOSS) dt = f->res[i].dtype;
  float lf;
  memcpy(&lf, tr->loss, sizeof lf);
  return dt == RT_DT_F64 ? tr->loss[0] : lf;
}

/* One process: the fused train_step on the batch in tr->x, tr->y. */
static nn_status one_step(Trainer *tr, double *loss) {
  void *user[3] = {tr->x, tr->y, tr->loss};
  nn_status s = rt_model_train_step(tr->d, tr->m, user, 3);
  *loss = loss_value(tr, tr->t->train_fn);
  return s;
}

/* Data parallel: the gradient of this rank's share, the mean over the
 * ranks, the update. *loss is the global batch's (the mean of the
 * shares' means, as the shares are equal). */
static nn_status dist_step(Trainer *tr, double *loss) {
  const rt_model_desc *d = tr->d;
  void *user[3] = {tr->x, tr->y, tr->loss};
  int g = tr->t->grad_fn;
  /* the gradient function announces gradients as they are final: their
   * buckets' sums start while it runs (rt_dist_grad) */
  rt_dist_grad_begin(&tr->dgrad);
  tr->m->call_ctx = &tr->call;
  nn_status s = d->funcs[g].dim_bound ? rt_model_grad_n(d, tr->m, tr->rows, user, 3) : rt_model_grad(d, tr->m, user, 3);
  tr->m->call_ctx = NULL;
  if (s) return s;
  rt_dist_grad_finish(&tr->dgrad);
  double l = loss_value(tr, g);
  int dt = d->nparams ? d->params[0].dtype : RT_DT_F32;
  size_t es = dt == RT_DT_F64 ? 8 : 4, n = d->param_bytes / es;
  rt_dist_sum(&tr->dist, &l, 1, RT_DT_F64, 8);
  double inv = 1.0 / tr->dist.size;
  if (dt == RT_DT_F64)
    for (size_t i = 0; i < n; i++) ((double *)(void *)tr->m->grads)[i] *= inv;
  else
    for (size_t i = 0; i < n; i++) ((float *)(void *)tr->m->grads)[i] *= (float)inv;
  *loss = l * inv;
  return rt_model_apply_update(d, tr->m);
}

/* One training step at the current position. Returns 0, 1 (error or a
 * non-finite loss). */
static int step(Trainer *tr, const rt_schedule *sched) {
  int64_t B = tr->gbatch, gstep = tr->epoch * tr->spe + tr->pos;
  tr->lr_now = rt_schedule_lr(sched, tr->epoch, gstep);
  if (rt_model_set_lr(tr->d, tr->m, tr->lr_now)) return fail(tr, NULL);
  rt_data_batch(&tr->train, &tr->sh, tr->perm + tr->pos * B + tr->dist.rank * tr->rows, tr->rows, tr->x, tr->y);
  double t = rt_train_now(), loss;
  if (tr->dist.size > 1 ? dist_step(tr, &loss) : one_step(tr, &loss)) return fail(tr, "training step");
  tr->step_time += rt_train_now() - t;
  tr->steps_run++;
  if (!isfinite(loss)) {
    rt_progress_clear(&tr->prog);
    fprintf(stderr, "%s: error: the loss is %s at step %" PRId64 " (epoch %" PRId64 ", batch %" PRId64 "/%" PRId64
                    ", learning rate %g); training stopped, no checkpoint written (lower --lr?)\n",
            tr->o->prog, isnan(loss) ? "NaN" : "infinite", gstep + 1, tr->epoch + 1, tr->pos + 1, tr->spe, tr->lr_now);
    rt_train_write_reports(tr);
    return 1;
  }
  tr->epoch_loss_sum += loss;
  tr->epoch_loss_n++;
  tr->int_loss_sum += loss;
  tr->int_loss_n++;
  tr->pos++;
  double rate = tr->step_time > 0 ? (double)(tr->steps_run * B) / tr->step_time : -1;
  int64_t left = tr->o->epochs * tr->spe - (gstep + 1);
  rt_progress_info pi = {tr->epoch + 1, tr->o->epochs, tr->pos, tr->spe, rate,
                         rate > 0 ? (double)(left * B) / rate : -1};
  rt_progress_step(&tr->prog, loss, &pi, rt_train_now());
  if (tr->pos % tr->log_every == 0 || tr->pos == tr->spe) {
    HistRow r = {.epoch = tr->epoch + (double)tr->pos / (double)tr->spe, .step = gstep + 1,
                 .train_loss = tr->int_loss_sum / (double)tr->int_loss_n, .test_loss = NAN, .test_acc = NAN,
                 .lr = tr->lr_now, .seconds = seconds(tr)};
    if (rt_hist_add(&tr->hist, &r)) return fail(tr, NULL);
    tr->int_loss_sum = 0;
    tr->int_loss_n = 0;
  }
  if (tr->pos == tr->spe) {
    tr->last_epoch_loss = tr->epoch_loss_sum / (double)tr->epoch_loss_n;
    tr->epoch_loss_sum = 0;
    tr->epoch_loss_n = 0;
    tr->epoch++;
    tr->pos = 0;
    tr->pending_eval = true;
  } else if (tr->o->checkpoint_every > 0 && (gstep + 1) % tr->o->checkpoint_every == 0) {
    if (rt_train_save(tr)) return fail(tr, "writing the checkpoint");
  }
  return 0;
}

static int train_loop(Trainer *tr) {
  const rt_train_desc *t = tr->t;
  rt_schedule sched = {t->schedule, tr->o->lr, t->sched_every, t->sched_gamma, t->sched_warmup, t->sched_min_lr,
                       tr->o->epochs * tr->spe};
  int64_t shuffled = -1; /* the epoch whose order tr->perm holds */
  int64_t done = tr->epoch * tr->spe + tr->pos; /* the rate of the last step taken, for the metrics */
  tr->lr_now = rt_schedule_lr(&sched, done ? (done - 1) / tr->spe : 0, done ? done - 1 : 0);
  for (;;) {
    if (tr->pending_eval) {
      int rc = end_epoch(tr);
      if (rc) return rc;
    }
    /* under MPI the ranks' agreement decides, not the flag: a signal that
     * comes after the exchange counts at the next step, on every rank */
    int stop = stop_flag;
    if (tr->dist.size > 1) {
      stop = rt_dist_any(&tr->dist, stop, "before a training step");
      if (stop && !stop_signal) stop_signal = SIGINT; /* another rank was signalled */
    }
    if (stop) return interrupted(tr);
    if (tr->epoch >= tr->o->epochs) return 0;
    if (shuffled != tr->epoch) {
      rt_data_order(tr->perm, tr->train.n, tr->o->seed, tr->epoch);
      shuffled = tr->epoch;
    }
    int rc = step(tr, &sched);
    if (rc) return rc;
  }
}

/* ---- setup and the end ---------------------------------------------------------------- */

static nn_status alloc_buffers(Trainer *tr) {
  int64_t B = tr->sh.batch;
  size_t xs = (size_t)(B * tr->sh.x_per) * 8, ys = (size_t)(B * tr->sh.y_per) * 8, os = 64;
  int fns[2] = {tr->t->predict_fn, tr->t->generate_fn};
  for (int k = 0; k < 2; k++) {
    if (fns[k] < 0) continue;
    const rt_func_desc *f = &tr->d->funcs[fns[k]];
    for (int i = 0; i < f->nres; i++) {
      size_t n = 8;
      for (int j = 0; j < f->res[i].rank; j++) n *= (size_t)f->res[i].shape[j];
      if (n > os) os = n;
    }
  }
  size_t n = (size_t)(tr->train.n > B ? tr->train.n : B);
  tr->x = rt_calloc(1, xs);
  tr->y = rt_calloc(1, ys);
  tr->out = rt_calloc(1, os);
  tr->perm = rt_calloc(n, sizeof *tr->perm);
  tr->idx = rt_calloc((size_t)B, sizeof *tr->idx);
  return tr->x && tr->y && tr->out && tr->perm && tr->idx ? NN_OK : NN_ERR_NOMEM;
}

static void trainer_free(Trainer *tr) {
  if (tr->m) rt_model_destroy(tr->d, tr->m);
  rt_data_free(&tr->train);
  rt_data_free(&tr->test);
  rt_text_free(&tr->text);
  rt_text_free(&tr->test_text);
  rt_free(tr->x);
  rt_free(tr->y);
  rt_free(tr->out);
  rt_free(tr->perm);
  rt_free(tr->idx);
  rt_hist_free(&tr->hist);
  rt_dist_grad_free(&tr->dgrad);
}

/* P > 1: the gradient's buckets, and what each step's gradient call is
 * told: rank r's rows start at row r * rows of the global batch (so
 * dropout draws the numbers one process draws for those rows), and whom
 * to announce final gradients to (NNC_MPI_OVERLAP=0: nobody, every sum
 * starts after the call; bench/mpi.sh measures the difference). */
static nn_status dist_setup(Trainer *tr) {
  const rt_model_desc *d = tr->d;
  size_t *off = rt_calloc((size_t)d->nparams + 1, sizeof *off);
  if (!off) return rt_error(NN_ERR_NOMEM, "out of memory");
  for (int i = 0; i < d->nparams; i++) off[i] = d->params[i].byte_offset;
  nn_status s = rt_dist_grad_init(&tr->dgrad, &tr->dist, tr->m->grads, d->nparams ? d->params[0].dtype : RT_DT_F32,
                                  d->nparams, off, d->param_bytes, GRAD_BUCKET_BYTES);
  rt_free(off);
  const char *ov = getenv("NNC_MPI_OVERLAP");
  bool overlap = !ov || strcmp(ov, "0");
  tr->call = (rt_call_ctx){.grad_ready = overlap ? rt_dist_grad_ready : NULL, .user = &tr->dgrad,
                           .row0 = tr->dist.rank * tr->rows};
  return s;
}

static void print_summary(Trainer *tr, double secs) {
  char ev[256], dur[32];
  int64_t steps = tr->epoch * tr->spe + tr->pos;
  double rate = tr->step_time > 0 ? (double)(tr->steps_run * tr->gbatch) / tr->step_time : 0;
  printf("done: %" PRId64 " epoch%s (%" PRId64 " steps) in %s", tr->epoch, tr->epoch == 1 ? "" : "s", steps,
         rt_format_duration(secs, dur, sizeof dur));
  if (tr->steps_run) printf(", %.0f samples/s", rate);
  if (tr->evaluated) {
    eval_line(tr, &tr->last_eval, ev, sizeof ev);
    printf("; %s", ev);
  }
  if (tr->saved) printf("\ncheckpoint: %s\n", tr->o->checkpoint);
  else printf("\nno checkpoint written\n");
  fflush(stdout);
}

/* --eval-only: evaluate the checkpoint; sample from it. */
static int eval_only(Trainer *tr) {
  if (tr->has_test) {
    EvalResult e;
    if (rt_train_evaluate(tr, &tr->test, &e, NULL)) return fail(tr, "evaluation");
    char ev[256];
    eval_line(tr, &e, ev, sizeof ev);
    if (tr->dist.rank == 0) printf("%s (step %" PRIu64 "): %s\n", tr->o->resume, tr->m->steps_done, ev);
  } else if (tr->dist.rank == 0) {
    printf("%s: no test data to evaluate (give --test)\n", tr->o->resume);
  }
  fflush(stdout);
  return 0;
}

/* Resuming a run that has done its epochs (and their evaluations) would
 * train nothing and write no checkpoint: an error that says what to pass. */
static int nothing_to_do(const Trainer *tr) {
  const TrainOpts *o = tr->o;
  if (!o->resume || tr->epoch < o->epochs || (tr->epoch == o->epochs && tr->pending_eval)) return 0;
  fprintf(stderr, "%s: error: nothing to do: %s has done %" PRId64 " epoch%s, and this run stops after %" PRId64
                  " (--epochs counts every epoch, the checkpoint's too); pass --epochs %" PRId64
                  " or more to train further, or --eval-only to evaluate it\n",
          o->prog, o->resume, tr->epoch, tr->epoch == 1 ? "" : "s", o->epochs, tr->epoch + 1);
  return 1;
}

/* A checkpoint to resume from: the file, read once, and its metadata. */
typedef struct Resume {
  rt_tensorset ts;
  ResumeMeta meta;
} Resume;

/* Every output can be written, and none is another output or an input
 * (the checkpoint may be the --resume file): found before anything is read
 * or trained, not when the first epoch ends. */
static int check_outputs(const Trainer *tr) {
  const TrainOpts *o = tr->o;
  const char *oflag[3] = {"--checkpoint", "--metrics", "--plot"}, *out[3] = {o->checkpoint, o->metrics, o->plot};
  const char *iflag[5] = {"--data", "--data", "--test", "--test", "--resume"};
  const char *in[5] = {o->data.path[0], o->data.path[1], o->test.path[0], o->test.path[1], o->resume};
  for (int i = 0; i < 3; i++) {
    if (!out[i]) continue;
    for (int j = 0; j < i; j++)
      if (out[j] && rt_path_same(out[i], out[j])) {
        fprintf(stderr, "%s: error: %s %s and %s %s are the same file\n", o->prog, oflag[j], out[j], oflag[i], out[i]);
        return 1;
      }
    for (int k = 0; k < 5; k++)
      if (in[k] && !(i == 0 && k == 4) && rt_path_same(out[i], in[k])) {
        fprintf(stderr, "%s: error: %s %s would overwrite %s %s\n", o->prog, oflag[i], out[i], iflag[k], in[k]);
        return 1;
      }
    if (rt_atomic_check(out[i])) return fail(tr, oflag[i]);
  }
  return 0;
}

/* The global batch and this rank's share of it (see the top of the file).
 * A model with a static batch cannot take B/P rows: it needs
 * --per-rank-batch (and, for the same global batch, -D B=B/P). */
static int split_batch(Trainer *tr) {
  const TrainOpts *o = tr->o;
  int P = tr->dist.size;
  int64_t B = tr->sh.batch;
  tr->gbatch = tr->rows = B;
  if (P == 1) return 0;
  if (tr->t->grad_fn < 0 || tr->t->update_fn < 0) {
    fprintf(stderr, "%s: error: this program was compiled without the split training step (grad, apply_update) "
            "that data-parallel training needs; rebuild it with this nnc\n", o->prog);
    return 1;
  }
  if (o->per_rank_batch) {
    tr->gbatch = B * P;
    return 0;
  }
  if (!tr->d->funcs[tr->t->grad_fn].dim_bound) {
    fprintf(stderr, "%s: error: %d MPI ranks, but the model's batch of %" PRId64 " is static, so no rank can take a "
            "share of it; pass --per-rank-batch (each rank a batch of %" PRId64 ", the global batch %" PRId64 ": "
            "compile with -D B=%" PRId64 " for a global batch of %" PRId64 "), or give the model a run-time batch "
            "(dim N <= %" PRId64 ")\n", o->prog, P, B, B, B * P, B / P > 0 ? B / P : 1, B, B);
    return 1;
  }
  if (B % P) {
    fprintf(stderr, "%s: error: the global batch of %" PRId64 " does not split into %d equal shares; run on a number "
            "of ranks that divides it, or pass --per-rank-batch\n", o->prog, B, P);
    return 1;
  }
  tr->rows = B / P;
  return 0;
}

static int setup(Trainer *tr, Resume *r) {
  TrainOpts *o = tr->o;
  if (!o->eval_only && tr->dist.rank == 0 && check_outputs(tr)) return 1; /* rank 0 writes them */
  nn_status s = rt_data_shape_of(tr->d, &tr->sh);
  if (s) return fail(tr, NULL);
  if (o->resume && ((s = rt_st_read(o->resume, &r->ts)) || (s = rt_train_read_meta(&r->ts, o->resume, &r->meta))))
    return fail(tr, "cannot resume");
  if (split_batch(tr)) return 2;
  if ((s = load_data(tr, o->resume ? &r->meta : NULL))) return fail(tr, NULL);
  tr->spe = tr->train.n / tr->gbatch;
  if (tr->spe < 1) {
    fprintf(stderr, "%s: error: %s: %" PRId64 " training samples, fewer than one batch of %" PRId64 "\n", o->prog,
            tr->train.what, tr->train.n, tr->gbatch);
    return 1;
  }
  if (o->epochs > RT_MAX_STEPS / tr->spe) {
    fprintf(stderr, "%s: error: --epochs %" PRId64 ": %" PRId64 " epochs of %" PRId64 " steps are more than the %d "
            "steps a model counts\n", o->prog, o->epochs, o->epochs, tr->spe, RT_MAX_STEPS);
    return 2;
  }
  tr->log_every = tr->spe >= 20 ? tr->spe / 20 : 1;
  if ((s = alloc_buffers(tr))) return fail(tr, NULL);
  if ((s = rt_model_create(tr->d, &tr->m, o->seed, o->threads))) return fail(tr, "cannot create the model");
  if (tr->dist.size > 1 && (s = dist_setup(tr))) return fail(tr, NULL);
  if (o->resume && (s = rt_train_resume(tr, &r->ts, &r->meta))) return fail(tr, "cannot resume");
  return o->eval_only ? 0 : nothing_to_do(tr);
}

int rt_train_main(const rt_model_desc *d, int argc, char **argv) {
  const char *prog = argc > 0 && argv && argv[0] ? argv[0] : "train";
  if (!d || d->magic != RT_MODEL_MAGIC || !d->train || d->train->train_fn < 0) {
    fprintf(stderr, "%s: error: the model has no train block\n", prog);
    return 1;
  }
  TrainOpts o;
  int rc = rt_train_parse(d, argc, argv, &o);
  if (rc) {
    rt_train_opts_free(&o);
    return rc < 0 ? 0 : rc;
  }
  Trainer tr = {.d = d, .t = d->train, .o = &o, .unigram_bits = NAN, .last_epoch_loss = NAN};
  if (rt_dist_init(&tr.dist, o.prog, o.mpi_timeout)) {
    fprintf(stderr, "%s: error: %s\n", o.prog, rt_last_error());
    rt_train_opts_free(&o);
    return 1;
  }
  if (tr.dist.size > 1) {
    if (tr.dist.rank != 0) { /* rank 0 speaks for all */
      o.quiet = true;
      o.progress = RT_PROGRESS_NONE;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (o.threads == 0 && cores > 0) /* the machine's cores shared among its ranks */
      o.threads = cores / tr.dist.local_size > 1 ? (int)(cores / tr.dist.local_size) : 1;
  }
  Resume res = {0};
  rc = setup(&tr, &res);
  rt_ts_free(&res.ts);
  rt_resume_meta_free(&res.meta);
  /* a rank that failed has said why; the others stop with it */
  if (tr.dist.size > 1 && rt_dist_any(&tr.dist, rc != 0, "while setting up") && !rc) rc = 1;
  if (!rc && o.eval_only) {
    rc = eval_only(&tr); /* every rank evaluates its share; rank 0 prints and samples */
    if (!rc && tr.dist.rank == 0 && o.generate_given && o.generate > 0 &&
        rt_train_generate(&tr, o.generate, o.temperature, o.prompt, stdout))
      rc = fail(&tr, "generating");
  } else if (!rc) {
    char a[32], ob[128];
    if (!o.quiet) {
      printf("%s: %s parameters; %s, lr %g; %" PRId64 " epochs; %d thread%s\n", o.name, commas(param_count(d), a),
             opt_str(d->train, ob, sizeof ob), o.lr, o.epochs, rt_pool_size(tr.m->pool),
             rt_pool_size(tr.m->pool) == 1 ? "" : "s");
      print_data(&tr);
      if (o.resume)
        printf("resuming %s at epoch %" PRId64 ", step %" PRId64 "/%" PRId64 "\n", o.resume, tr.epoch + 1, tr.pos,
               tr.spe);
      fflush(stdout);
    }
    rt_progress_init(&tr.prog, o.progress, stderr, tr.spe >= 10 ? tr.spe / 10 : 1);
    Signals sig = {0};
    signals_install(&sig);
    tr.t0 = rt_train_now();
    rc = train_loop(&tr);
    signals_restore(&sig);
    rt_progress_clear(&tr.prog);
    if (rc == 1 && tr.dist.size > 1) /* the others may be waiting for this rank at the next step */
      rt_dist_abort(&tr.dist, 1);
    if (!rc && tr.dist.size > 1 && !o.quiet)
      printf("communication: %.2f ms per step waiting for the gradient sums after the backward pass (%.0f%% of "
             "the step); %" PRId64 " of %" PRId64 " buckets started during it\n",
             tr.steps_run ? 1e3 * tr.dist.comm_time / (double)tr.steps_run : 0.0,
             tr.step_time > 0 ? 100.0 * tr.dist.comm_time / tr.step_time : 0.0, tr.dgrad.early, tr.dgrad.total);
    if (!rc && tr.dist.rank == 0) {
      print_summary(&tr, seconds(&tr));
      if (o.generate > 0) {
        if (!o.quiet) printf("--- %" PRId64 " characters sampled at temperature %g ---\n", o.generate, o.temperature);
        if (rt_train_generate(&tr, o.generate, o.temperature, o.prompt, stdout)) rc = fail(&tr, "generating");
      }
    }
  }
  trainer_free(&tr);
  rt_train_opts_free(&o);
  if (tr.dist.size > 1) {
    fflush(stdout);
    fflush(stderr);
    /* no rank leaves before rank 0 has written: mpirun ends a job whose rank exits non-zero */
    rt_dist_any(&tr.dist, 0, "at the end");
  }
  rt_dist_finalize(&tr.dist);
  return rc;
}
