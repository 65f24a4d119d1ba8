/* ir_parse.c — reads the IR text format written by ir_print.c.
 *
 * A hand-written scanner and recursive-descent parser. Every error is
 * reported at its line and column through the Diag and parsing stops (one
 * error per file: IR text is machine-written or a test's). Types of
 * instructions are checked with the op shape rules as they are read, so a
 * parsed module is well-typed; ir_verify then checks the rest. Input is
 * bounded: names, numbers and nesting have limits, so malformed text can
 * neither crash nor hang the parser. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "strmap.h"

typedef enum Tok {
  T_EOF, T_PCT /* %name */, T_AT /* @name */, T_IDENT, T_INT, T_FLOAT, T_STRING,
  T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_LBRACK, T_RBRACK, T_COMMA, T_COLON,
  T_EQ, T_ARROW, T_HASH, T_ERROR
} Tok;

typedef struct Scope Scope;

typedef struct P {
  Arena *a;
  Diag *d;
  const char *s;
  size_t n, i;
  int line, col;
  /* current token */
  Tok t;
  Loc loc;
  char text[256];
  int64_t ival;
  double fval;
  bool failed;
  /* names: the values in scope (strmap.h), and the names in order of
   * definition with the loop depth they were made at, to end a scope */
  StrMap names;
  struct Bind { const char *name; int depth; } *binds;
  int nbinds, capbinds;
  int depth;
  StrMap params;        /* parameter name -> (void *)1 */
  int capparams;        /* room in m->params */
  Module *m;
  Func *f;
} P;

static bool err(P *p, Loc l, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool err(P *p, Loc l, const char *fmt, ...) {
  if (p->failed) return false;
  p->failed = true;
  va_list ap;
  va_start(ap, fmt);
  diag_verror(p->d, l, fmt, ap);
  va_end(ap);
  return false;
}

/* ---- scanner ------------------------------------------------------------- */

static int peekc(P *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }

static void adv(P *p) {
  if (p->i >= p->n) return;
  if (p->s[p->i] == '\n') {
    p->line++;
    p->col = 1;
  } else {
    p->col++;
  }
  p->i++;
}

static bool name_char(int c) { return c >= 0 && (isalnum(c) || c == '_' || c == '.'); }

static void next(P *p) {
  for (;;) {
    int c = peekc(p);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      adv(p);
    } else if (c == '/' && p->i + 1 < p->n && p->s[p->i + 1] == '/') {
      while (peekc(p) != '\n' && peekc(p) != -1) adv(p);
    } else {
      break;
    }
  }
  p->loc = (Loc){p->line, p->col, p->line, p->col};
  int c = peekc(p);
  p->text[0] = 0;
  if (c == -1) {
    p->t = T_EOF;
    return;
  }
  if (c == '%' || c == '@' || isalpha(c) || c == '_') {
    Tok t = c == '%' ? T_PCT : c == '@' ? T_AT : T_IDENT;
    if (t != T_IDENT) adv(p);
    size_t k = 0;
    while (name_char(peekc(p))) {
      if (k + 1 >= sizeof p->text) {
        p->t = T_ERROR;
        err(p, p->loc, "name too long");
        return;
      }
      p->text[k++] = (char)peekc(p);
      adv(p);
    }
    p->text[k] = 0;
    if (k == 0) {
      err(p, p->loc, "expected a name after '%c'", c);
      p->t = T_ERROR;
      return;
    }
    p->t = t;
    if (t == T_IDENT && (!strcmp(p->text, "inf") || !strcmp(p->text, "nan"))) {
      p->t = T_FLOAT;
      p->fval = p->text[0] == 'i' ? INFINITY : NAN;
    }
    p->loc.ecol = p->col - 1;
    return;
  }
  if (isdigit(c) || c == '-' || c == '+') {
    if (c == '-' && p->i + 1 < p->n && p->s[p->i + 1] == '>') {
      adv(p);
      adv(p);
      p->t = T_ARROW;
      return;
    }
    size_t k = 0;
    bool is_float = false;
    while (k + 1 < sizeof p->text) {
      int d = peekc(p);
      if (isdigit(d) || d == '-' || d == '+' || d == '.' || d == 'e' || d == 'E' || (k > 0 && isalpha(d))) {
        if (d == '.' || d == 'e' || d == 'E' || isalpha(d)) is_float = true;
        p->text[k++] = (char)d;
        adv(p);
      } else {
        break;
      }
    }
    p->text[k] = 0;
    p->loc.ecol = p->col - 1;
    char *end;
    errno = 0;
    if (!strcmp(p->text, "-inf") || !strcmp(p->text, "+inf")) {
      p->t = T_FLOAT;
      p->fval = p->text[0] == '-' ? -INFINITY : INFINITY;
      return;
    }
    if (is_float) {
      p->fval = strtod(p->text, &end);
      p->t = T_FLOAT;
    } else {
      p->ival = strtoll(p->text, &end, 10);
      /* "-0" is an integer token, but as a float attribute it is -0.0 */
      p->fval = p->ival == 0 && p->text[0] == '-' ? -0.0 : (double)p->ival;
      p->t = T_INT;
    }
    if (*end || errno == ERANGE || end == p->text) {
      err(p, p->loc, "malformed number '%s'", p->text);
      p->t = T_ERROR;
    }
    return;
  }
  if (c == '"') {
    adv(p);
    size_t k = 0;
    for (;;) {
      int d = peekc(p);
      if (d == -1 || d == '\n') {
        err(p, p->loc, "unterminated string");
        p->t = T_ERROR;
        return;
      }
      if (d < 0x20 && d != '\t') { /* would not print back */
        err(p, (Loc){p->line, p->col, p->line, p->col}, "unexpected byte 0x%02X in a string", d);
        p->t = T_ERROR;
        return;
      }
      adv(p);
      if (d == '"') break;
      if (d == '\\') {
        d = peekc(p);
        if (d == -1) continue;
        adv(p);
      }
      if (k + 1 >= sizeof p->text) {
        err(p, p->loc, "string too long");
        p->t = T_ERROR;
        return;
      }
      p->text[k++] = (char)d;
    }
    p->text[k] = 0;
    p->t = T_STRING;
    return;
  }
  adv(p);
  switch (c) {
  case '(': p->t = T_LPAREN; return;
  case ')': p->t = T_RPAREN; return;
  case '{': p->t = T_LBRACE; return;
  case '}': p->t = T_RBRACE; return;
  case '[': p->t = T_LBRACK; return;
  case ']': p->t = T_RBRACK; return;
  case ',': p->t = T_COMMA; return;
  case ':': p->t = T_COLON; return;
  case '=': p->t = T_EQ; return;
  case '#': p->t = T_HASH; return;
  }
  if (c >= 0x20 && c < 0x7f)
    err(p, p->loc, "unexpected character '%c'", c);
  else
    err(p, p->loc, "unexpected byte 0x%02X", c);
  p->t = T_ERROR;
}

static bool expect(P *p, Tok t, const char *what) {
  if (p->t != t) return err(p, p->loc, "expected %s", what);
  next(p);
  return true;
}

static bool accept(P *p, Tok t) {
  if (p->t != t) return false;
  next(p);
  return true;
}

static bool is_ident(P *p, const char *kw) { return p->t == T_IDENT && !strcmp(p->text, kw); }

/* The rest of the line after "# L:C": position and note. */
static bool trailer(P *p, Pos *pos, const char **note) {
  if (p->t != T_HASH) return true;
  /* scan raw: digits ':' digits, then the note to end of line */
  while (peekc(p) == ' ') adv(p);
  long l = 0, c = 0;
  int nd = 0;
  while (isdigit(peekc(p)) && nd < 9) l = l * 10 + (peekc(p) - '0'), adv(p), nd++;
  if (!nd || peekc(p) != ':') return err(p, p->loc, "expected 'line:col' after '#'");
  adv(p);
  nd = 0;
  while (isdigit(peekc(p)) && nd < 9) c = c * 10 + (peekc(p) - '0'), adv(p), nd++;
  if (!nd) return err(p, p->loc, "expected 'line:col' after '#'");
  pos->line = (int)l;
  pos->col = (int)c;
  if (peekc(p) == ' ') {
    adv(p);
    size_t start = p->i;
    while (peekc(p) != '\n' && peekc(p) != -1) adv(p);
    size_t len = p->i - start;
    while (len > 0 && (p->s[start + len - 1] == ' ' || p->s[start + len - 1] == '\r')) len--;
    /* a note is text: control bytes (NUL included) would not print back */
    for (size_t k = 0; k < len; k++) {
      unsigned char ch = (unsigned char)p->s[start + k];
      if (ch < 0x20 && ch != '\t') {
        int col = p->col - (int)(p->i - start - k);
        return err(p, (Loc){p->line, col, p->line, col}, "unexpected byte 0x%02X in a note", ch);
      }
    }
    if (len && note) *note = arena_strndup(p->a, p->s + start, len);
  } else if (peekc(p) != '\n' && peekc(p) != -1 && peekc(p) != '\r') {
    return err(p, p->loc, "expected the end of the line after the position");
  }
  next(p);
  return true;
}

/* Room for one more element in *arr (n used of *cap, elements of `size`). */
static void *grow(P *p, void *arr, int n, int *cap, size_t size) {
  if (n < *cap) return arr;
  int nc = *cap ? 2 * *cap : 8;
  void *na = arena_alloc(p->a, size * (size_t)nc);
  if (n) memcpy(na, arr, size * (size_t)n);
  *cap = nc;
  return na;
}

/* ---- names --------------------------------------------------------------- */

static Value *lookup(P *p, const char *name) { return sm_get(&p->names, name); }

static bool define(P *p, const char *name, Value *v, Loc l) {
  if (lookup(p, name)) return err(p, l, "value %%%s is defined twice", name);
  p->binds = grow(p, p->binds, p->nbinds, &p->capbinds, sizeof *p->binds);
  const char *nm = arena_strdup(p->a, name);
  p->binds[p->nbinds++] = (struct Bind){nm, p->depth};
  sm_put(&p->names, nm, v);
  /* numbers are not names: unnamed values print by number again */
  bool digits = true;
  for (const char *s = name; *s; s++)
    if (*s < '0' || *s > '9') digits = false;
  v->name = digits ? NULL : nm;
  return true;
}

static void pop_scope(P *p) {
  while (p->nbinds > 0 && p->binds[p->nbinds - 1].depth >= p->depth)
    sm_put(&p->names, p->binds[--p->nbinds].name, NULL);
}

static Value *use(P *p) {
  if (p->t != T_PCT) {
    err(p, p->loc, "expected a value (%%name)");
    return NULL;
  }
  Value *v = lookup(p, p->text);
  if (!v) {
    err(p, p->loc, "use of undefined value %%%s", p->text);
    return NULL;
  }
  next(p);
  return v;
}

/* ---- types, roles ---------------------------------------------------------- */

static bool parse_type(P *p, Type *t) {
  if (p->t != T_IDENT) return err(p, p->loc, "expected a type");
  DType dt;
  if (!strcmp(p->text, "f32")) dt = TY_F32;
  else if (!strcmp(p->text, "f64")) dt = TY_F64;
  else if (!strcmp(p->text, "i32")) dt = TY_I32;
  else if (!strcmp(p->text, "bool")) dt = TY_BOOL;
  else return err(p, p->loc, "unknown type '%s'", p->text);
  /* the scanner glues "f32[" ... no: '[' is a separate token */
  next(p);
  *t = type_scalar(dt);
  if (!accept(p, T_LBRACK)) return true;
  if (accept(p, T_RBRACK)) return true;
  int64_t numel = 1;
  for (;;) {
    if (p->t == T_IDENT && t->rank < MAX_RANK) { /* N<=1024: the run-time dimension and its bound */
      if (t->dyn_name && strcmp(t->dyn_name, p->text)) return err(p, p->loc, "two run-time dimensions in one type");
      if (!t->dyn_name) t->dyn_name = arena_printf(p->a, "%s", p->text);
      int64_t mul = 1;
      if (p->i < p->n && p->s[p->i] == '*') { /* N*64<=2048: static axes merged into it */
        adv(p);
        next(p);
        if (p->t != T_INT || p->ival < 2 || p->ival > MAX_NUMEL) return err(p, p->loc, "expected the factor of a merged run-time axis");
        mul = p->ival;
      }
      if (t->dyn && type_dyn_mul(t) != mul) return err(p, p->loc, "run-time axes with different factors in one type");
      t->dyn_mul = mul > 1 ? mul : 0;
      if (p->i + 1 >= p->n || p->s[p->i] != '<' || p->s[p->i + 1] != '=')
        return err(p, p->loc, "expected '<=' and the bound after the run-time dimension '%s'", p->text);
      adv(p);
      adv(p);
      next(p);
      if (p->t != T_INT || p->ival / mul > INT32_MAX || p->ival % mul)
        return err(p, p->loc, "expected the bound of a run-time dimension (1..2^31-1, times its factor)");
      t->dyn |= 1u << t->rank;
    }
    if (p->t != T_INT) return err(p, p->loc, "expected a dimension");
    if (t->rank == MAX_RANK) return err(p, p->loc, "more than %d dimensions", MAX_RANK);
    if (p->ival < 1 || p->ival > MAX_NUMEL || numel > MAX_NUMEL / p->ival)
      return err(p, p->loc, "dimension out of range");
    numel *= p->ival;
    t->dim[t->rank++] = p->ival;
    next(p);
    if (accept(p, T_RBRACK)) return true;
    if (!expect(p, T_COMMA, "',' or ']'")) return false;
  }
}

static bool paren_int(P *p, int *out) {
  if (!expect(p, T_LPAREN, "'('")) return false;
  if (p->t != T_INT || p->ival < 0 || p->ival > 1000000) return err(p, p->loc, "expected an index");
  *out = (int)p->ival;
  next(p);
  return expect(p, T_RPAREN, "')'");
}

static bool parse_role(P *p, Role *r, bool result) {
  r->kind = 0;
  r->index = 0;
  if (p->t != T_IDENT) return true;
  static const char *const arg_roles[] = {"input", "param", "state", "scalar", "grad"};
  static const char *const res_roles[] = {"output", "loss", "grad", "input_grad", "new_param", "new_state"};
  const char *const *names = result ? res_roles : arg_roles;
  int n = result ? 6 : 5;
  for (int k = 0; k < n; k++)
    if (!strcmp(p->text, names[k])) {
      next(p);
      r->kind = k;
      if (result && (k == RES_LOSS || k == RES_OUTPUT)) return true;
      if (!result && k == ARG_INPUT) return true;
      return paren_int(p, &r->index);
    }
  return err(p, p->loc, "unknown role '%s'", p->text);
}

/* ---- instructions ------------------------------------------------------------ */

static bool parse_block(P *p, Block *b, Func *f);

/* An integer attribute. Bounded by the largest tensor size, so the shape
 * rules' arithmetic on attributes and dimensions cannot overflow. */
static bool attr_int(P *p) {
  if (p->t != T_INT) return err(p, p->loc, "expected an integer");
  if (p->ival < -MAX_NUMEL || p->ival > MAX_NUMEL) return err(p, p->loc, "attribute value %s is out of range", p->text);
  return true;
}

static bool parse_attrs(P *p, Op op, Attr *at) {
  const char *s = op_info[op].attrs;
  if (!*s) return true;
  if (!expect(p, T_LBRACE, "'{' and the attributes")) return false;
  bool first = true;
  while (*s) {
    while (*s == ' ') s++;
    if (!*s) break;
    const char *e = s;
    while (*e && *e != ' ' && *e != '[' && *e != ':') e++;
    if (!first && !expect(p, T_COMMA, "','")) return false;
    first = false;
    if (p->t != T_IDENT || strlen(p->text) != (size_t)(e - s) || strncmp(p->text, s, (size_t)(e - s)))
      return err(p, p->loc, "expected the attribute '%.*s'", (int)(e - s), s);
    next(p);
    if (!expect(p, T_EQ, "'='")) return false;
    if (*e == ':') {
      if (p->t != T_INT && p->t != T_FLOAT) return err(p, p->loc, "expected a number");
      at->f = p->fval;
      next(p);
      e += 2;
    } else if (*e == '[') {
      if (!expect(p, T_LBRACK, "'['")) return false;
      if (!accept(p, T_RBRACK)) {
        for (;;) {
          if (!attr_int(p)) return false;
          if (at->ni == MAX_IATTR) return err(p, p->loc, "too many attribute values");
          at->i[at->ni++] = p->ival;
          next(p);
          if (accept(p, T_RBRACK)) break;
          if (!expect(p, T_COMMA, "',' or ']'")) return false;
        }
      }
      e += 3;
    } else {
      if (!attr_int(p)) return false;
      if (at->ni == MAX_IATTR) return err(p, p->loc, "too many attribute values");
      at->i[at->ni++] = p->ival;
      next(p);
    }
    s = e;
  }
  return expect(p, T_RBRACE, "'}'");
}

static Value *new_result(P *p, Inst *in, int k, Type t) {
  Value *v = NEW(p->a, Value);
  v->ty = t;
  v->def = in;
  v->res = k;
  in->res[k] = v;
  return v;
}

/* Lists of operands, results and carried values have no fixed bound (the
 * compiler prints functions with thousands of arguments): they grow in the
 * arena. Loops nest at most as deep as the checker lets .nn code nest. */
enum { MAX_LOOP_DEPTH = 1000 };

/* A comma-separated list of %values, appended to *args. */
static bool operands(P *p, Value ***args, int *n) {
  int cap = 0;
  *args = NULL;
  *n = 0;
  if (p->t != T_PCT) return true;
  do {
    *args = grow(p, *args, *n, &cap, sizeof(Value *));
    if (!((*args)[(*n)++] = use(p))) return false;
  } while (accept(p, T_COMMA));
  return true;
}

static bool parse_for(P *p, Block *b, Func *f, const char **names, Loc *nlocs, int nres, Loc start) {
  Inst *in = NEW(p->a, Inst);
  in->op = OP_FOR;
  bool reverse = false, checkpoint = false;
  if (is_ident(p, "reverse")) {
    reverse = true;
    next(p);
  }
  if (is_ident(p, "checkpoint")) {
    checkpoint = true;
    next(p);
  }
  if (p->t != T_PCT) return err(p, p->loc, "expected the loop variable");
  const char *ivar = arena_strdup(p->a, p->text);
  Loc iloc = p->loc;
  next(p);
  if (!expect(p, T_EQ, "'='")) return false;
  if (p->t != T_INT) return err(p, p->loc, "expected the lower bound");
  int64_t lo = p->ival;
  next(p);
  if (!is_ident(p, "to")) return err(p, p->loc, "expected 'to'");
  next(p);
  if (p->t != T_INT) return err(p, p->loc, "expected the upper bound");
  int64_t hi = p->ival;
  next(p);
  /* the index is an i32: both bounds fit in one */
  if (lo < INT32_MIN || hi > INT32_MAX || hi < lo || hi - lo > 100000000)
    return err(p, start, "bad loop range %lld to %lld", (long long)lo, (long long)hi);
  Block *body = ir_block_new(p->a, in);
  in->body = body;
  Value **inits = NULL;
  const char **cnames = NULL;
  Loc *clocs = NULL;
  int nc = 0, capi = 0, capn = 0, capl = 0;
  if (is_ident(p, "carry")) {
    next(p);
    if (!expect(p, T_LPAREN, "'('")) return false;
    while (!accept(p, T_RPAREN)) {
      if (nc && !expect(p, T_COMMA, "','")) return false;
      inits = grow(p, inits, nc, &capi, sizeof *inits);
      cnames = grow(p, cnames, nc, &capn, sizeof *cnames);
      clocs = grow(p, clocs, nc, &capl, sizeof *clocs);
      if (p->t != T_PCT) return err(p, p->loc, "expected a carried value name");
      cnames[nc] = arena_strdup(p->a, p->text);
      clocs[nc] = p->loc;
      next(p);
      if (!expect(p, T_EQ, "'='")) return false;
      Value *v = use(p);
      if (!v) return false;
      inits[nc++] = v;
    }
  }
  Type *rtypes = NULL;
  int nt = 0, capt = 0;
  if (accept(p, T_COLON)) {
    do {
      rtypes = grow(p, rtypes, nt, &capt, sizeof *rtypes);
      if (!parse_type(p, &rtypes[nt++])) return false;
    } while (accept(p, T_COMMA));
  }
  if (nt != nres) return err(p, start, "%d results named but %d types given", nres, nt);
  if (nres < nc) return err(p, start, "a loop with %d carried values has at least %d results", nc, nc);
  in->nargs = nc;
  in->args = NEW_ARRAY(p->a, Value *, nc + 1);
  if (nc) memcpy(in->args, inits, sizeof(Value *) * (size_t)nc);
  ir_set_loop_attr(p->a, in, lo, hi, nc, reverse, checkpoint);
  in->nres = nres;
  in->res = NEW_ARRAY(p->a, Value *, nres + 1);
  for (int k = 0; k < nc; k++)
    if (!type_eq(&rtypes[k], &inits[k]->ty))
      return err(p, clocs[k], "carried value %%%s starts as %s but the loop result is %s", cnames[k],
                 tstr(&inits[k]->ty), tstr(&rtypes[k]));
  for (int k = nc; k < nres; k++)
    if (rtypes[k].rank < 1 || rtypes[k].dim[0] != hi - lo)
      return err(p, nlocs[k], "a stacked loop result must have a leading dimension of %lld", (long long)(hi - lo));
  if (!expect(p, T_LBRACE, "'{'")) return false;
  if (!trailer(p, &in->pos, &in->note)) return false;
  if (++p->depth > MAX_LOOP_DEPTH) return err(p, start, "loops nested too deeply (the limit is %d)", MAX_LOOP_DEPTH);
  Value *iv = ir_block_add_arg(p->a, body, type_scalar(TY_I32), NULL);
  if (!define(p, ivar, iv, iloc)) return false;
  for (int k = 0; k < nc; k++) {
    Value *cv = ir_block_add_arg(p->a, body, inits[k]->ty, NULL);
    if (!define(p, cnames[k], cv, clocs[k])) return false;
  }
  if (!parse_block(p, body, f)) return false;
  pop_scope(p);
  p->depth--;
  Loc end = p->loc;
  if (!expect(p, T_RBRACE, "'}'")) return false;
  Inst *y = body->last;
  if (!y || y->op != OP_YIELD) return err(p, end, "a loop body must end with 'yield'");
  if (y->nargs != nres) return err(p, end, "the loop has %d results but yields %d values", nres, y->nargs);
  for (int k = 0; k < nres; k++) {
    Type want = y->args[k]->ty;
    if (k >= nc) {
      if (want.rank == MAX_RANK) return err(p, end, "stacked value has too high a rank");
      memmove(want.dim + 1, want.dim, sizeof(int64_t) * (size_t)want.rank);
      want.dyn <<= 1;
      want.dim[0] = hi - lo;
      want.rank++;
    }
    if (!type_eq(&want, &rtypes[k]))
      return err(p, end, "loop result %d is declared %s but the yielded value gives %s", k, tstr(&rtypes[k]), tstr(&want));
  }
  for (int k = 0; k < nres; k++)
    if (!define(p, names[k], new_result(p, in, k, rtypes[k]), nlocs[k])) return false;
  ir_append(b, in);
  return true;
}

static bool parse_inst(P *p, Block *b, Func *f) {
  Loc start = p->loc;
  if (is_ident(p, "yield") || is_ident(p, "return")) {
    Inst *in = NEW(p->a, Inst);
    in->op = p->text[0] == 'y' ? OP_YIELD : OP_RETURN;
    next(p);
    Value **args;
    int n;
    if (!operands(p, &args, &n)) return false;
    in->nargs = n;
    in->args = n ? args : NEW_ARRAY(p->a, Value *, 1);
    in->res = NEW_ARRAY(p->a, Value *, 1);
    if (!trailer(p, &in->pos, &in->note)) return false;
    if (in->op == OP_YIELD && !b->parent) return err(p, start, "'yield' outside a loop");
    if (in->op == OP_RETURN && b->parent) return err(p, start, "'return' inside a loop");
    if (in->op == OP_RETURN) {
      if (n != f->nret) return err(p, start, "@%s returns %d values, not %d", f->name, f->nret, n);
      for (int k = 0; k < n; k++)
        if (!type_eq(&args[k]->ty, &f->ret[k]))
          return err(p, start, "result %d of @%s is %s, but %s is returned", k, f->name, tstr(&f->ret[k]), tstr(&args[k]->ty));
    }
    ir_append(b, in);
    return true;
  }
  const char **names = NULL;
  Loc *nlocs = NULL;
  int nres = 0, capn = 0, capl = 0;
  while (p->t == T_PCT) {
    names = grow(p, names, nres, &capn, sizeof *names);
    nlocs = grow(p, nlocs, nres, &capl, sizeof *nlocs);
    names[nres] = arena_strdup(p->a, p->text);
    nlocs[nres++] = p->loc;
    next(p);
    if (!accept(p, T_COMMA)) break;
  }
  if (nres && !expect(p, T_EQ, "'='")) return false;
  if (p->t != T_IDENT) return err(p, p->loc, "expected an operation");
  if (!strcmp(p->text, "for")) {
    next(p);
    return parse_for(p, b, f, names, nlocs, nres, start);
  }
  Op op = op_by_name(p->text);
  if (op == OP_COUNT || op == OP_YIELD || op == OP_RETURN) return err(p, p->loc, "unknown operation '%s'", p->text);
  if (nres != 1) return err(p, start, "%s has one result", op_info[op].name);
  next(p);
  Inst *in = NEW(p->a, Inst);
  in->op = op;
  Value **args;
  int n;
  if (!operands(p, &args, &n)) return false;
  in->nargs = n;
  in->args = n ? args : NEW_ARRAY(p->a, Value *, 1);
  Attr at = {0};
  if (!parse_attrs(p, op, &at)) return false;
  ir_set_attr(p->a, in, &at);
  if (!expect(p, T_COLON, "':' and the result type")) return false;
  Type t;
  if (!parse_type(p, &t)) return false;
  in->nres = 1;
  in->res = NEW_ARRAY(p->a, Value *, 2);
  if (!trailer(p, &in->pos, &in->note)) return false;
  char msg[256];
  Type got = t;
  if (!ir_infer(in, &got, 1, msg, sizeof msg)) return err(p, start, "%s: %s", op_info[op].name, msg);
  if (!type_eq(&got, &t)) return err(p, start, "%s gives %s, not %s", op_info[op].name, tstr(&got), tstr(&t));
  if (!define(p, names[0], new_result(p, in, 0, t), nlocs[0])) return false;
  ir_append(b, in);
  return true;
}

static bool parse_block(P *p, Block *b, Func *f) {
  while (p->t != T_RBRACE) {
    if (p->t == T_EOF) return err(p, p->loc, "expected '}' before the end of the file");
    if (b->last && (op_info[b->last->op].flags & F_TERMINATOR))
      return err(p, p->loc, "instructions after '%s'", op_info[b->last->op].name);
    if (!parse_inst(p, b, f)) return false;
  }
  if (!b->last || !(op_info[b->last->op].flags & F_TERMINATOR))
    return err(p, p->loc, "a block must end with 'return' or 'yield'");
  return true;
}

static bool parse_func(P *p) {
  next(p); /* func */
  if (p->t != T_AT) return err(p, p->loc, "expected @name");
  if (ir_find_func(p->m, p->text)) return err(p, p->loc, "function @%s is defined twice", p->text);
  Func *f = ir_func_new(p->m, arena_strdup(p->a, p->text));
  p->f = f;
  next(p);
  if (!expect(p, T_LPAREN, "'('")) return false;
  p->nbinds = 0;
  p->depth = 0;
  int ninputs = 0;
  sm_init(&p->names, p->a); /* a fresh scope per function */
  while (!accept(p, T_RPAREN)) {
    if (f->body->nargs && !expect(p, T_COMMA, "','")) return false;
    if (p->t != T_PCT) return err(p, p->loc, "expected an argument %%name");
    const char *name = arena_strdup(p->a, p->text);
    Loc l = p->loc;
    next(p);
    if (!expect(p, T_COLON, "':'")) return false;
    Type t;
    Role r;
    if (!parse_type(p, &t) || !parse_role(p, &r, false)) return false;
    if (r.kind == ARG_INPUT) r.index = ninputs++; /* inputs are numbered in order; the text does not say */
    ir_func_add_arg(p->a, f, t, NULL, r);
    if (!define(p, name, f->body->args[f->body->nargs - 1], l)) return false;
  }
  if (!expect(p, T_ARROW, "'->'") || !expect(p, T_LPAREN, "'('")) return false;
  while (!accept(p, T_RPAREN)) {
    if (f->nret && !expect(p, T_COMMA, "','")) return false;
    const char *rname = NULL;
    if (p->t == T_PCT) {
      rname = arena_strdup(p->a, p->text);
      next(p);
      if (!expect(p, T_COLON, "':'")) return false;
    }
    Type t;
    Role r;
    if (!parse_type(p, &t) || !parse_role(p, &r, true)) return false;
    ir_func_add_result(p->a, f, t, rname, r);
  }
  if (is_ident(p, "grad")) {
    f->is_grad = true;
    next(p);
  }
  if (!expect(p, T_LBRACE, "'{'")) return false;
  if (!trailer(p, &f->pos, NULL)) return false;
  if (!parse_block(p, f->body, f)) return false;
  next(p); /* } */
  return true;
}

static bool parse_number(P *p, double *v) {
  if (p->t != T_INT && p->t != T_FLOAT) return err(p, p->loc, "expected a number");
  *v = p->fval;
  next(p);
  return true;
}

static bool parse_param(P *p) {
  next(p);
  if (p->t != T_AT) return err(p, p->loc, "expected @name");
  Module *m = p->m;
  m->params = grow(p, m->params, m->nparams, &p->capparams, sizeof *m->params);
  IrParam *pa = &m->params[m->nparams];
  if (sm_get(&p->params, p->text)) return err(p, p->loc, "parameter @%s is defined twice", p->text);
  pa->name = arena_strdup(p->a, p->text);
  sm_put(&p->params, pa->name, (void *)1);
  next(p);
  if (!expect(p, T_COLON, "':'") || !parse_type(p, &pa->ty) || !expect(p, T_EQ, "'='")) return false;
  if (p->t != T_IDENT) return err(p, p->loc, "expected an initializer");
  static const char *const kinds[] = {"zeros", "ones", "constant", "uniform", "normal", "trunc_normal"};
  static const int nvals[] = {0, 0, 1, 2, 2, 2};
  int k = -1;
  for (int i = 0; i < 6; i++)
    if (!strcmp(p->text, kinds[i])) k = i;
  if (k < 0) return err(p, p->loc, "unknown initializer '%s'", p->text);
  pa->init.kind = (InitKind)k;
  next(p);
  if (!expect(p, T_LPAREN, "'('")) return false;
  double v[2] = {0, 0};
  for (int i = 0; i < nvals[k]; i++) {
    if (i && !expect(p, T_COMMA, "','")) return false;
    if (!parse_number(p, &v[i])) return false;
  }
  if (!expect(p, T_RPAREN, "')'")) return false;
  pa->init.a = v[0];
  pa->init.b = v[1];
  pa->init.how = kinds[k];
  m->nparams++;
  return trailer(p, &pa->pos, NULL);
}

/* ---- the train block (ir_print_train) ---------------------------------------- */

/* One setting of a call like adam(lr = 0.001): its name, what it takes
 * ('f' a number, 'i' an integer, 'b' true or false, 's' a string) and
 * where it goes. */
typedef struct TSet {
  const char *name;
  char kind;
  void *dst;
  bool required;
} TSet;

static bool setting_value(P *p, const TSet *s) {
  switch (s->kind) {
  case 'f':
    if (p->t != T_INT && p->t != T_FLOAT) return err(p, p->loc, "'%s' takes a number", s->name);
    if (!isfinite(p->fval)) return err(p, p->loc, "'%s' must be finite", s->name);
    *(double *)s->dst = p->fval;
    break;
  case 'i':
    if (p->t != T_INT) return err(p, p->loc, "'%s' takes an integer", s->name);
    *(int64_t *)s->dst = p->ival;
    break;
  case 'b':
    if (!is_ident(p, "true") && !is_ident(p, "false")) return err(p, p->loc, "'%s' takes true or false", s->name);
    *(bool *)s->dst = p->text[0] == 't';
    break;
  default:
    if (p->t != T_STRING) return err(p, p->loc, "'%s' takes a string (a file path in quotes)", s->name);
    *(const char **)s->dst = arena_strdup(p->a, p->text);
    break;
  }
  next(p);
  return true;
}

/* "(name = value, ...)" after the name of `call` (at cl), over set[0..n). */
static bool settings(P *p, const char *call, Loc cl, const TSet *set, int n) {
  bool given[8] = {0};
  if (!expect(p, T_LPAREN, "'('")) return false;
  for (bool first = true; !accept(p, T_RPAREN); first = false) {
    if (!first && !expect(p, T_COMMA, "',' or ')'")) return false;
    if (p->t != T_IDENT) return err(p, p->loc, "expected a setting of %s()", call);
    int k = -1;
    for (int j = 0; j < n; j++)
      if (!strcmp(set[j].name, p->text)) k = j;
    if (k < 0) return err(p, p->loc, "%s() has no setting '%s'", call, p->text);
    if (given[k]) return err(p, p->loc, "'%s' is set twice", p->text);
    given[k] = true;
    next(p);
    if (!expect(p, T_EQ, "'='") || !setting_value(p, &set[k])) return false;
  }
  for (int j = 0; j < n; j++)
    if (set[j].required && !given[j]) return err(p, cl, "%s() needs '%s'", call, set[j].name);
  return true;
}

/* The kind named by the identifier at p (one of names[0..n)), or -1 after
 * an error naming `what`. */
static int kind_named(P *p, const char *const *names, int n, const char *what) {
  if (p->t == T_IDENT)
    for (int k = 0; k < n; k++)
      if (names[k][0] && !strcmp(names[k], p->text)) return k;
  err(p, p->loc, "expected %s", what);
  return -1;
}

static bool train_optimizer(P *p, OptSpec *o) {
  int k = kind_named(p, spec_opt_names, 3, "an optimizer: sgd, adam or adamw");
  if (k < 0) return false;
  Loc cl = p->loc;
  spec_opt_defaults(o, (OptKind)k);
  next(p);
  TSet sgd[] = {{"lr", 'f', &o->lr, false}, {"momentum", 'f', &o->momentum, false},
                {"nesterov", 'b', &o->nesterov, false}, {"weight_decay", 'f', &o->weight_decay, false}};
  TSet adam[] = {{"lr", 'f', &o->lr, false}, {"beta1", 'f', &o->beta1, false}, {"beta2", 'f', &o->beta2, false},
                 {"eps", 'f', &o->eps, false}, {"weight_decay", 'f', &o->weight_decay, false}};
  if (!(k == OPT_SGD ? settings(p, "sgd", cl, sgd, 4) : settings(p, spec_opt_names[k], cl, adam, 5))) return false;
  if (!(o->lr > 0)) return err(p, cl, "the learning rate must be positive");
  return true;
}

static bool train_schedule(P *p, SchedSpec *s) {
  int k = kind_named(p, spec_sched_names, 3, "a schedule: constant, step or cosine");
  if (k < 0) return false;
  Loc cl = p->loc;
  spec_sched_defaults(s, (SchedKind)k);
  next(p);
  TSet step[] = {{"every", 'i', &s->every, false}, {"gamma", 'f', &s->gamma, false}};
  TSet cosine[] = {{"warmup", 'i', &s->warmup, false}, {"min_lr", 'f', &s->min_lr, false}};
  if (k == SCHED_CONSTANT) return settings(p, "constant", cl, NULL, 0);
  if (!settings(p, spec_sched_names[k], cl, k == SCHED_STEP ? step : cosine, 2)) return false;
  if (k == SCHED_STEP && s->every < 1) return err(p, cl, "step(): every must be at least 1");
  if (s->warmup < 0) return err(p, cl, "cosine(): warmup must not be negative");
  return true;
}

static bool train_data(P *p, DataSpec *d) {
  int k = kind_named(p, spec_data_names, 5, "a data source: idx, npy, csv or text");
  if (k < 0) return false;
  Loc cl = p->loc;
  spec_data_defaults(d);
  d->kind = (DataKind)k;
  d->loc = cl;
  next(p);
  TSet two[] = {{"features", 's', &d->path[0], true}, {"labels", 's', &d->path[1], true},
                {"scale", 'f', &d->scale, false}};
  TSet csv[] = {{"path", 's', &d->path[0], true}, {"label", 'i', &d->label_col, false},
                {"scale", 'f', &d->scale, false}};
  TSet text[] = {{"path", 's', &d->path[0], true}, {"split", 'f', &d->split, false}};
  const char *n = spec_data_names[k];
  if (k == DATA_IDX || k == DATA_NPY) return settings(p, n, cl, two, 3);
  if (k == DATA_CSV) return settings(p, n, cl, csv, 3);
  if (!settings(p, n, cl, text, 2)) return false;
  if (!(d->split > 0 && d->split < 1)) return err(p, cl, "text(): split must be between 0 and 1");
  return true;
}

/* A non-negative integer setting of the block, at least `min`. */
static bool train_int(P *p, const char *key, int64_t min, int64_t *out) {
  if (p->t != T_INT) return err(p, p->loc, "'%s' takes an integer", key);
  if (p->ival < min) return err(p, p->loc, "'%s' must be at least %lld", key, (long long)min);
  *out = p->ival;
  next(p);
  return true;
}

/* The functions the block names, found once the whole module is read. */
typedef struct TrainRefs {
  const char **name[3]; /* &t->loss, &t->predict, &t->generate */
  Loc loc[3];
} TrainRefs;

static bool parse_train(P *p, TrainRefs *refs) {
  Loc start = p->loc;
  if (p->m->train) return err(p, start, "the module has two train blocks");
  next(p);
  TrainSpec *t = NEW(p->a, TrainSpec);
  spec_train_defaults(t);
  p->m->train = t;
  if (!expect(p, T_LBRACE, "'{'")) return false;
  static const char *const keys[] = {"minimize", "predict", "generate", "optimizer", "schedule", "epochs",
                                     "clip_grad_norm", "max_tape_bytes", "seed", "data", "test"};
  enum { NKEYS = sizeof keys / sizeof *keys };
  bool seen[NKEYS] = {0};
  refs->name[0] = &t->loss;
  refs->name[1] = &t->predict;
  refs->name[2] = &t->generate;
  while (!accept(p, T_RBRACE)) {
    if (p->t != T_IDENT) return err(p, p->loc, "expected a train setting or '}'");
    int k = -1;
    for (int j = 0; j < NKEYS; j++)
      if (!strcmp(keys[j], p->text)) k = j;
    if (k < 0) return err(p, p->loc, "unknown train setting '%s'", p->text);
    if (seen[k]) return err(p, p->loc, "'%s' is set twice", p->text);
    seen[k] = true;
    next(p);
    if (!expect(p, T_EQ, "'='")) return false;
    bool ok = true;
    switch (k) {
    case 0: case 1: case 2:
      if (p->t != T_AT) return err(p, p->loc, "'%s' names a function: @name", keys[k]);
      *refs->name[k] = arena_strdup(p->a, p->text);
      refs->loc[k] = p->loc;
      next(p);
      break;
    case 3: ok = train_optimizer(p, &t->opt); break;
    case 4: ok = train_schedule(p, &t->sched); break;
    case 5: ok = train_int(p, "epochs", 1, &t->epochs); break;
    case 6:
      if (p->t != T_INT && p->t != T_FLOAT) return err(p, p->loc, "'clip_grad_norm' takes a number");
      if (!(p->fval > 0) || !isfinite(p->fval)) return err(p, p->loc, "clip_grad_norm must be positive");
      t->clip_norm = p->fval;
      next(p);
      break;
    case 7: ok = train_int(p, "max_tape_bytes", 1, &t->max_tape_bytes); break;
    case 8: {
      int64_t seed;
      ok = train_int(p, "seed", 0, &seed);
      t->seed = (uint64_t)seed;
      break;
    }
    case 9: ok = train_data(p, &t->data); break;
    case 10: ok = train_data(p, &t->test); break;
    }
    if (!ok) return false;
  }
  if (!seen[0]) return err(p, start, "the train block needs 'minimize = @FUNCTION'");
  return true;
}

/* After the functions are read: the block's names must be functions, the
 * one minimized returning a float scalar. */
static bool resolve_train(P *p, const TrainRefs *refs) {
  for (int k = 0; k < 3; k++) {
    const char *n = *refs->name[k];
    if (!n) continue;
    const Func *f = ir_find_func(p->m, n);
    if (!f) return err(p, refs->loc[k], "the train block names @%s, which is not a function of the module", n);
    if (k == 0 && (f->nret != 1 || f->ret[0].rank || !dtype_is_float(f->ret[0].dtype)))
      return err(p, refs->loc[k], "@%s does not return a float scalar, so it cannot be minimized", n);
  }
  return true;
}

Module *ir_parse(Arena *a, Diag *d, const char *src, size_t len) {
  P p = {.a = a, .d = d, .s = src, .n = len, .line = 1, .col = 1};
  sm_init(&p.params, a);
  next(&p);
  if (!is_ident(&p, "module")) {
    err(&p, p.loc, "expected 'module @name'");
    return NULL;
  }
  next(&p);
  if (p.t != T_AT) {
    err(&p, p.loc, "expected 'module @name'");
    return NULL;
  }
  p.m = ir_module_new(a, arena_strdup(a, p.text), NULL);
  next(&p);
  if (p.t == T_STRING) {
    p.m->file = arena_strdup(a, p.text);
    next(&p);
  }
  TrainRefs refs = {0};
  while (!p.failed && p.t != T_EOF) {
    if (is_ident(&p, "train")) {
      parse_train(&p, &refs);
    } else if (is_ident(&p, "param")) {
      if (p.m->nfuncs) {
        err(&p, p.loc, "parameters come before functions");
        break;
      }
      parse_param(&p);
    } else if (is_ident(&p, "func")) {
      parse_func(&p);
    } else {
      err(&p, p.loc, "expected 'param', 'train' or 'func'");
    }
  }
  if (!p.failed && p.m->train) resolve_train(&p, &refs);
  return p.failed ? NULL : p.m;
}
