/* spec.c — the defaults and names of the train block (spec.h), shared by
 * the checker, which reads them from .nn source, and the IR text format. */
#include "spec.h"

#include <string.h>

const char *const spec_opt_names[3] = {"sgd", "adam", "adamw"};
const char *const spec_sched_names[3] = {"constant", "step", "cosine"};
const char *const spec_data_names[5] = {"", "idx", "npy", "csv", "text"};

void spec_opt_defaults(OptSpec *o, OptKind k) {
  memset(o, 0, sizeof *o);
  o->kind = k;
  o->beta1 = 0.9;
  o->beta2 = 0.999;
  o->eps = 1e-8;
  o->lr = k == OPT_SGD ? 0.01 : 0.001;
  o->weight_decay = k == OPT_ADAMW ? 0.01 : 0.0;
}

void spec_sched_defaults(SchedSpec *s, SchedKind k) {
  memset(s, 0, sizeof *s);
  s->kind = k;
  if (k == SCHED_STEP) {
    s->every = 1;
    s->gamma = 0.1;
  }
}

void spec_data_defaults(DataSpec *d) {
  memset(d, 0, sizeof *d);
  d->scale = 1.0;
  d->label_col = -1;
  d->split = 0.1;
}

void spec_train_defaults(TrainSpec *t) {
  memset(t, 0, sizeof *t);
  spec_opt_defaults(&t->opt, OPT_SGD);
  spec_sched_defaults(&t->sched, SCHED_CONSTANT);
  t->epochs = 1; /* data and test stay DATA_NONE, all zero */
}
