/* rt_progress.c — the progress bar and progress lines; see rt_progress.h. */
#include "rt_progress.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#define EMA_DECAY 0.98 /* the smoothed loss forgets with a horizon of ~50 steps */

bool rt_progress_parse(const char *name, rt_progress_mode *mode, FILE *out) {
  if (!strcmp(name, "auto")) *mode = isatty(fileno(out)) ? RT_PROGRESS_BAR : RT_PROGRESS_LINE;
  else if (!strcmp(name, "bar")) *mode = RT_PROGRESS_BAR;
  else if (!strcmp(name, "line")) *mode = RT_PROGRESS_LINE;
  else if (!strcmp(name, "none")) *mode = RT_PROGRESS_NONE;
  else return false;
  return true;
}

void rt_progress_init(rt_progress *p, rt_progress_mode mode, FILE *out, int64_t line_every) {
  memset(p, 0, sizeof *p);
  p->mode = mode;
  p->out = out;
  p->line_every = line_every > 0 ? line_every : 1;
  p->last_draw = -1e9;
}

char *rt_format_duration(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e7) {
    snprintf(buf, n, "?");
    return buf;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

double rt_progress_loss(const rt_progress *p) { return p->ema_w > 0 ? p->ema / p->ema_w : NAN; }

static void draw(rt_progress *p, const rt_progress_info *in, bool bar) {
  char eta[32], rate[32];
  rt_format_duration(in->eta_s, eta, sizeof eta);
  if (in->samples_per_s >= 0) snprintf(rate, sizeof rate, "%.0f samples/s", in->samples_per_s);
  else snprintf(rate, sizeof rate, "- samples/s");
  if (!bar) {
    fprintf(p->out, "epoch %lld/%lld  step %lld/%lld  loss %.4f  %s  ETA %s\n", (long long)in->epoch,
            (long long)in->epochs, (long long)in->step, (long long)in->steps, rt_progress_loss(p), rate, eta);
    fflush(p->out);
    return;
  }
  enum { W = 24 };
  char cells[W + 1];
  int fill = in->steps > 0 ? (int)(W * in->step / in->steps) : 0;
  for (int i = 0; i < W; i++) cells[i] = i < fill ? '=' : i == fill ? '>' : ' ';
  cells[W] = 0;
  fprintf(p->out, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  %s  ETA %s", (long long)in->epoch,
          (long long)in->epochs, cells, (long long)in->step, (long long)in->steps, rt_progress_loss(p), rate, eta);
  fflush(p->out);
  p->drawn = true;
}

void rt_progress_step(rt_progress *p, double loss, const rt_progress_info *info, double now) {
  p->ema = EMA_DECAY * p->ema + (1 - EMA_DECAY) * loss;
  p->ema_w = EMA_DECAY * p->ema_w + (1 - EMA_DECAY);
  if (p->mode == RT_PROGRESS_LINE && (info->step % p->line_every == 0 || info->step == info->steps))
    draw(p, info, false);
  if (p->mode == RT_PROGRESS_BAR && (now - p->last_draw >= 0.1 || info->step == info->steps)) {
    draw(p, info, true);
    p->last_draw = now;
  }
}

void rt_progress_clear(rt_progress *p) {
  if (p->mode == RT_PROGRESS_BAR && p->drawn) {
    fputs("\r\033[K", p->out);
    fflush(p->out);
    p->drawn = false;
  }
}
