/* rt_progress.h — the training program's progress display (rt_progress.c):
 * a bar redrawn in place on a terminal, or plain lines at fixed steps when
 * the output is a file or a pipe (so logs stay readable and reproducible).
 *
 *   epoch 2/5 [=========>          ] 234/468  loss 0.4123  5120 samples/s  ETA 0:42
 */
#ifndef NN_RT_PROGRESS_H
#define NN_RT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum rt_progress_mode {
  RT_PROGRESS_NONE = 0, /* nothing */
  RT_PROGRESS_BAR = 1,  /* one line redrawn with '\r', at most 10 times a second */
  RT_PROGRESS_LINE = 2  /* a line every `line_every` steps */
} rt_progress_mode;

typedef struct rt_progress {
  rt_progress_mode mode;
  FILE *out;            /* stderr */
  int64_t line_every;   /* LINE mode: steps between lines */
  double last_draw;     /* BAR mode: time of the last redraw (seconds) */
  bool drawn;           /* BAR mode: a bar is on the screen */
  double ema;           /* smoothed loss (bias-corrected exponential average) */
  double ema_w;         /* sum of the average's weights */
} rt_progress;

/* The state of training at a step, as shown. */
typedef struct rt_progress_info {
  int64_t epoch, epochs;        /* 1-based epoch */
  int64_t step, steps;          /* steps done in this epoch, steps per epoch */
  double samples_per_s;
  double eta_s;                 /* < 0: unknown */
} rt_progress_info;

/* `mode_name`: "auto" (BAR on a terminal, LINE otherwise), "bar", "line",
 * "none"; false if it is none of these. */
bool rt_progress_parse(const char *mode_name, rt_progress_mode *mode, FILE *out);
void rt_progress_init(rt_progress *p, rt_progress_mode mode, FILE *out, int64_t line_every);
/* Adds a step's loss to the smoothed loss and shows the state if due
 * (`now`: seconds from any fixed origin). */
void rt_progress_step(rt_progress *p, double loss, const rt_progress_info *info, double now);
/* The smoothed loss (NaN before any step). */
double rt_progress_loss(const rt_progress *p);
/* Erases a bar from the screen, so a normal line can be printed. */
void rt_progress_clear(rt_progress *p);
/* "1:02:03", "4:05" or "?" (negative or too large) into buf. */
char *rt_format_duration(double s, char *buf, size_t n);

#endif
