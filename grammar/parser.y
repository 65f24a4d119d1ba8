/* parser.y — the .nn grammar (bison, pure and reentrant, with locations).
 *
 * Builds the AST of ast.h in the compilation's arena. The grammar is free
 * of newlines: statements start with a keyword or an identifier, so they
 * need no terminator (`;` is allowed and ignored). Syntax errors are
 * reported clang-style by yyreport_syntax_error below; recovery happens at
 * statement, model-item and top-level granularity, so one run reports
 * several errors. */
%code requires {
#include "ast.h"
#include "parse_internal.h"
typedef void *yyscan_t;
typedef struct Parser {
  Arena *a;
  Diag *d;
  LexState *ls;
  yyscan_t scanner;
  Program *prog;
  int nexprs;      /* Expr nodes made so far (bounded by MAX_EXPRS) */
} Parser;
#define NN_YYLTYPE Loc
#define NN_YYLTYPE_IS_DECLARED 1
#define NN_YYLTYPE_IS_TRIVIAL 1
}

%code provides {
/* flex's bison bridge knows the unprefixed names */
#define YYSTYPE NN_YYSTYPE
#define YYLTYPE NN_YYLTYPE
int nn_yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner);
}

%code {
#include <string.h>
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                  \
  do {                                                               \
    if (N) {                                                         \
      (Cur).line = YYRHSLOC(Rhs, 1).line;                            \
      (Cur).col = YYRHSLOC(Rhs, 1).col;                              \
      (Cur).eline = YYRHSLOC(Rhs, N).eline;                          \
      (Cur).ecol = YYRHSLOC(Rhs, N).ecol;                            \
    } else {                                                         \
      (Cur).line = (Cur).eline = YYRHSLOC(Rhs, 0).eline;             \
      (Cur).col = (Cur).ecol = YYRHSLOC(Rhs, 0).ecol;                \
    }                                                                \
  } while (0)
#define YYMAXDEPTH 20000
#define A (p->a)

static void yyerror(YYLTYPE *loc, Parser *p, const char *msg);
static Expr *mk(Parser *p, ExprKind k, Loc loc);
static Expr *mk_bin(Parser *p, BinOp op, Expr *l, Expr *r, Loc all, Loc op_loc);
static Stmt *mk_stmt(Parser *p, StmtKind k, Loc loc);
static void append_stmt(Stmt **head, Stmt **tail, Stmt *s);
static Expr *seal(Parser *p, Expr *e);

/* The scanner, unless the parse must stop (a limit was hit, or the error
 * cap): then end of file, and the error rules below abort. */
static int lex(YYSTYPE *lval, YYLTYPE *lloc, Parser *p) {
  if (diag_full(p->d)) p->ls->fatal = true;
  if (p->ls->fatal) return NN_YYEOF;
  return nn_yylex(lval, lloc, p->scanner);
}
#define nn_yylex(lval, lloc, p) lex(lval, lloc, p)
}

%define api.pure full
%define api.prefix {nn_yy}
%define parse.error custom
%define parse.lac full
%locations
%parse-param {Parser *p}
%initial-action { (void)yynerrs; /* errors are counted by the Diag */ }
%lex-param {Parser *p}

%union {
  int64_t i;
  double f;
  const char *s;
  DType dt;
  Expr *e;
  Stmt *st;
  struct { Stmt *head, *tail; } sl;
  TypeExpr *ty;
  PtrVec pv;
  IndexItem *ix;
  Arg *arg;
  FnDecl *fn;
  ParamDecl *param;
  ConstDecl *cdecl;
  Model *model;
  TrainDecl *train;
  TrainItem *titem;
  FnArg *fnarg;
}

%token <i> INT "integer"
%token <f> FLOAT "number"
%token <s> STRING "string"
%token <s> IDENT "identifier"
%token <dt> DTYPE "type name"
%token CONST "'const'" MODEL "'model'" PARAM "'param'" FN "'fn'" LET "'let'"
%token CHECKPOINT "'checkpoint'"
%token VAR "'var'" FOR "'for'" IN "'in'" RETURN "'return'" TRAIN "'train'"
%token TRUE "'true'" FALSE "'false'"
%token ARROW "'->'" DOTDOT "'..'" EQ "'=='" NE "'!='" LE "'<='" GE "'>='"
%token AND "'&&'" OR "'||'" POW "'**'"
%token PLUSEQ "'+='" MINUSEQ "'-='" STAREQ "'*='" SLASHEQ "'/='"

%left OR
%left AND
%nonassoc EQ NE '<' LE '>' GE
%left '+' '-'
%left '*' '/' '%' '@'
%precedence UNARY '!'
%right POW

%type <e> expr primary postfix call opt_expr
%type <pv> expr_list args arg_list index_items fn_args fn_arg_list train_items dims
%type <arg> arg
%type <ix> index_item
%type <ty> type opt_type
%type <st> stmt
%type <sl> stmts block
%type <fn> fn_decl
%type <param> param_decl
%type <cdecl> const_decl
%type <model> model_decl model_items
%type <e> lvalue
%type <train> train_decl
%type <titem> train_item
%type <fnarg> fn_arg
%type <e> opt_init
%type <i> assign_op

%%

program
  : %empty
  | program top
  ;

top
  : const_decl   { vec_push(A, &p->prog->consts, $1); }
  | fn_decl      { vec_push(A, &p->prog->fns, $1); }
  | model_decl   { vec_push(A, &p->prog->models, $1); }
  | ';'
  | error        { if (p->ls->fatal) YYABORT; }
  ;

const_decl
  : CONST IDENT '=' expr {
      $$ = NEW(A, ConstDecl);
      $$->name = $2; $$->loc = @2; $$->value = $4;
    }
  ;

model_decl
  : MODEL IDENT '{' model_items '}' {
      $$ = $4;
      $$->name = $2; $$->loc = @2; $$->end = @5;
    }
  ;

model_items
  : %empty                  { $$ = NEW(A, Model); }
  | model_items const_decl  { $$ = $1; vec_push(A, &$$->consts, $2); }
  | model_items param_decl  { $$ = $1; vec_push(A, &$$->params, $2); }
  | model_items fn_decl     { $$ = $1; $2->in_model = true; vec_push(A, &$$->fns, $2); }
  | model_items train_decl  {
      $$ = $1;
      if ($$->train) {
        diag_error(p->d, $2->loc, "a model has at most one 'train' block");
        diag_note(p->d, $$->train->loc, "the first one is here");
      } else {
        $$->train = $2;
      }
    }
  | model_items ';'         { $$ = $1; }
  | model_items error       { $$ = $1; if (p->ls->fatal) YYABORT; }
  ;

param_decl
  : PARAM IDENT ':' type opt_init {
      $$ = NEW(A, ParamDecl);
      $$->name = $2; $$->loc = @2; $$->tyx = $4; $$->init = $5;
    }
  ;

opt_init
  : %empty     { $$ = NULL; }
  | '=' expr   { $$ = $2; }
  ;

fn_decl
  : FN IDENT '(' fn_args ')' ARROW type block {
      FnDecl *f = NEW(A, FnDecl);
      f->name = $2; f->loc = @2;
      f->nargs = $4.n;
      f->args = NEW_ARRAY(A, FnArg, $4.n + 1);
      for (int i = 0; i < $4.n; i++) f->args[i] = *(FnArg *)$4.v[i];
      f->ret_tyx = $7; f->body = $8.head; f->body_end = @8;
      f->body_end.line = f->body_end.eline; f->body_end.col = f->body_end.ecol;
      $$ = f;
    }
  | FN IDENT '(' fn_args ')' block {
      diag_error(p->d, @5, "function '%s' needs a result type: '-> f32[...]' after ')'", $2);
      FnDecl *f = NEW(A, FnDecl);
      f->name = $2; f->loc = @2;
      f->nargs = $4.n;
      f->args = NEW_ARRAY(A, FnArg, $4.n + 1);
      for (int i = 0; i < $4.n; i++) f->args[i] = *(FnArg *)$4.v[i];
      f->body = $6.head; f->body_end = @6;
      f->state = 2; /* already diagnosed; the checker skips it */
      $$ = f;
    }
  ;

fn_args
  : %empty             { $$.v = NULL; $$.n = $$.cap = 0; }
  | fn_arg_list        { $$ = $1; }
  | fn_arg_list ','    { $$ = $1; }
  ;

fn_arg_list
  : fn_arg                  { $$.v = NULL; $$.n = $$.cap = 0; vec_push(A, &$$, $1); }
  | fn_arg_list ',' fn_arg  { $$ = $1; vec_push(A, &$$, $3); }
  ;

fn_arg
  : IDENT ':' type {
      $$ = NEW(A, FnArg);
      $$->name = $1; $$->loc = @1; $$->tyx = $3;
    }
  ;

type
  : DTYPE {
      $$ = NEW(A, TypeExpr); $$->dtype = $1; $$->loc = @1;
    }
  | DTYPE '[' ']' {
      $$ = NEW(A, TypeExpr); $$->dtype = $1; $$->loc = @$;
    }
  | DTYPE '[' dims ']' {
      $$ = NEW(A, TypeExpr); $$->dtype = $1; $$->loc = @$;
      $$->rank = $3.n;
      $$->dims = (Expr **)$3.v;
    }
  ;

dims
  : expr            { $$.v = NULL; $$.n = $$.cap = 0; vec_push(A, &$$, $1); }
  | dims ',' expr   { $$ = $1; vec_push(A, &$$, $3); }
  ;

opt_type
  : %empty     { $$ = NULL; }
  | ':' type   { $$ = $2; }
  ;

block
  : '{' stmts '}'  { $$ = $2; }
  ;

stmts
  : %empty        { $$.head = $$.tail = NULL; }
  | stmts stmt    { $$ = $1; if ($2) append_stmt(&$$.head, &$$.tail, $2); }
  ;

stmt
  : LET IDENT opt_type '=' expr {
      $$ = mk_stmt(p, ST_LET, @$);
      $$->let.name = $2; $$->let.name_loc = @2; $$->let.tyx = $3; $$->let.init = $5;
    }
  | VAR IDENT opt_type '=' expr {
      $$ = mk_stmt(p, ST_VAR, @$);
      $$->let.name = $2; $$->let.name_loc = @2; $$->let.tyx = $3; $$->let.init = $5;
    }
  | lvalue assign_op expr {
      $$ = mk_stmt(p, ST_ASSIGN, @$);
      $$->assign.target = $1; $$->assign.op = (int)$2; $$->assign.value = $3;
      $$->assign.op_loc = @2;
    }
  | CHECKPOINT FOR IDENT IN expr DOTDOT expr block {
      $$ = mk_stmt(p, ST_FOR, @$);
      $$->loop.var = $3; $$->loop.var_loc = @3;
      $$->loop.lo = $5; $$->loop.hi = $7; $$->loop.body = $8.head;
      $$->loop.body_end = @8;
      $$->loop.body_end.line = $$->loop.body_end.eline;
      $$->loop.body_end.col = $$->loop.body_end.ecol;
      $$->loop.checkpoint = true;
      $$->loc = loc_span(@2, @7);
    }
  | FOR IDENT IN expr DOTDOT expr block {
      $$ = mk_stmt(p, ST_FOR, @$);
      $$->loop.var = $2; $$->loop.var_loc = @2;
      $$->loop.lo = $4; $$->loop.hi = $6; $$->loop.body = $7.head;
      $$->loop.body_end = @7;
      $$->loop.body_end.line = $$->loop.body_end.eline;
      $$->loop.body_end.col = $$->loop.body_end.ecol;
      $$->loc = loc_span(@1, @6);
    }
  | RETURN expr {
      $$ = mk_stmt(p, ST_RETURN, @$);
      $$->ret.value = $2;
    }
  | lvalue {
      $$ = mk_stmt(p, ST_EXPR, @$);
      $$->expr.e = $1;
    }
  | call {
      $$ = mk_stmt(p, ST_EXPR, @$);
      $$->expr.e = $1;
    }
  | ';'    { $$ = NULL; }
  | error  { $$ = NULL; if (p->ls->fatal) YYABORT; }
  ;

lvalue
  : IDENT   { $$ = mk(p, EX_NAME, @$); $$->name.id = $1; }
  | lvalue '[' index_items ']' {
      $$ = mk(p, EX_INDEX, @$);
      $$->index.base = $1;
      $$->index.nitems = $3.n;
      $$->index.items = NEW_ARRAY(A, IndexItem, $3.n + 1);
      for (int i = 0; i < $3.n; i++) $$->index.items[i] = *(IndexItem *)$3.v[i];
      seal(p, $$);
    }
  ;

assign_op
  : '='      { $$ = '='; }
  | PLUSEQ   { $$ = '+'; }
  | MINUSEQ  { $$ = '-'; }
  | STAREQ   { $$ = '*'; }
  | SLASHEQ  { $$ = '/'; }
  ;

train_decl
  : TRAIN '{' train_items '}' {
      $$ = NEW(A, TrainDecl);
      $$->loc = @1;
      $$->nitems = $3.n;
      $$->items = NEW_ARRAY(A, TrainItem, $3.n + 1);
      for (int i = 0; i < $3.n; i++) $$->items[i] = *(TrainItem *)$3.v[i];
    }
  ;

train_items
  : %empty                  { $$.v = NULL; $$.n = $$.cap = 0; }
  | train_items train_item  { $$ = $1; if ($2) vec_push(A, &$$, $2); }
  | train_items ';'         { $$ = $1; }
  ;

train_item
  : IDENT '=' expr {
      $$ = NEW(A, TrainItem);
      $$->key = $1; $$->loc = @1; $$->value = $3;
    }
  | error { $$ = NULL; if (p->ls->fatal) YYABORT; }
  ;

/* ---- expressions ---- */

expr
  : postfix                 { $$ = $1; }
  | expr '+' expr           { $$ = mk_bin(p, BIN_ADD, $1, $3, @$, @2); }
  | expr '-' expr           { $$ = mk_bin(p, BIN_SUB, $1, $3, @$, @2); }
  | expr '*' expr           { $$ = mk_bin(p, BIN_MUL, $1, $3, @$, @2); }
  | expr '/' expr           { $$ = mk_bin(p, BIN_DIV, $1, $3, @$, @2); }
  | expr '%' expr           { $$ = mk_bin(p, BIN_MOD, $1, $3, @$, @2); }
  | expr '@' expr           { $$ = mk_bin(p, BIN_MATMUL, $1, $3, @$, @2); }
  | expr POW expr           { $$ = mk_bin(p, BIN_POW, $1, $3, @$, @2); }
  | expr EQ expr            { $$ = mk_bin(p, BIN_EQ, $1, $3, @$, @2); }
  | expr NE expr            { $$ = mk_bin(p, BIN_NE, $1, $3, @$, @2); }
  | expr '<' expr           { $$ = mk_bin(p, BIN_LT, $1, $3, @$, @2); }
  | expr LE expr            { $$ = mk_bin(p, BIN_LE, $1, $3, @$, @2); }
  | expr '>' expr           { $$ = mk_bin(p, BIN_GT, $1, $3, @$, @2); }
  | expr GE expr            { $$ = mk_bin(p, BIN_GE, $1, $3, @$, @2); }
  | expr AND expr           { $$ = mk_bin(p, BIN_AND, $1, $3, @$, @2); }
  | expr OR expr            { $$ = mk_bin(p, BIN_OR, $1, $3, @$, @2); }
  | '-' expr %prec UNARY    { $$ = mk(p, EX_UNARY, @$); $$->un.op = UN_NEG; $$->un.x = $2; seal(p, $$); }
  | '+' expr %prec UNARY    { $$ = mk(p, EX_UNARY, @$); $$->un.op = UN_PLUS; $$->un.x = $2; seal(p, $$); }
  | '!' expr                { $$ = mk(p, EX_UNARY, @$); $$->un.op = UN_NOT; $$->un.x = $2; seal(p, $$); }
  ;

postfix
  : primary                       { $$ = $1; }
  | postfix '[' index_items ']'   {
      $$ = mk(p, EX_INDEX, @$);
      $$->index.base = $1;
      $$->index.nitems = $3.n;
      $$->index.items = NEW_ARRAY(A, IndexItem, $3.n + 1);
      for (int i = 0; i < $3.n; i++) $$->index.items[i] = *(IndexItem *)$3.v[i];
      seal(p, $$);
    }
  ;

primary
  : INT     { $$ = mk(p, EX_INT, @$); $$->lit.i = $1; }
  | FLOAT   { $$ = mk(p, EX_FLOAT, @$); $$->lit.f = $1; }
  | STRING  { $$ = mk(p, EX_STRING, @$); $$->lit.s = $1; }
  | TRUE    { $$ = mk(p, EX_BOOL, @$); $$->lit.i = 1; }
  | FALSE   { $$ = mk(p, EX_BOOL, @$); $$->lit.i = 0; }
  | IDENT   { $$ = mk(p, EX_NAME, @$); $$->name.id = $1; }
  | call    { $$ = $1; }
  | '(' expr ')'  { $$ = $2; $$->loc = @$; }
  | '[' expr_list ']' {
      $$ = mk(p, EX_LIST, @$);
      $$->list.n = $2.n;
      $$->list.elems = (Expr **)$2.v;
      seal(p, $$);
    }
  | '[' ']' { $$ = mk(p, EX_LIST, @$); }
  ;

call
  : IDENT '(' args ')' {
      $$ = mk(p, EX_CALL, @$);
      $$->call.name = $1; $$->call.name_loc = @1;
      $$->call.nargs = $3.n;
      $$->call.args = NEW_ARRAY(A, Arg, $3.n + 1);
      for (int i = 0; i < $3.n; i++) $$->call.args[i] = *(Arg *)$3.v[i];
      seal(p, $$);
    }
  | DTYPE '(' args ')' {
      $$ = mk(p, EX_CALL, @$);
      $$->call.name = dtype_name($1); $$->call.name_loc = @1;
      $$->call.nargs = $3.n;
      $$->call.args = NEW_ARRAY(A, Arg, $3.n + 1);
      for (int i = 0; i < $3.n; i++) $$->call.args[i] = *(Arg *)$3.v[i];
      seal(p, $$);
    }
  ;

args
  : %empty          { $$.v = NULL; $$.n = $$.cap = 0; }
  | arg_list        { $$ = $1; }
  | arg_list ','    { $$ = $1; }
  ;

arg_list
  : arg               { $$.v = NULL; $$.n = $$.cap = 0; vec_push(A, &$$, $1); }
  | arg_list ',' arg  { $$ = $1; vec_push(A, &$$, $3); }
  ;

arg
  : expr              { $$ = NEW(A, Arg); $$->value = $1; }
  | IDENT '=' expr    { $$ = NEW(A, Arg); $$->name = $1; $$->name_loc = @1; $$->value = $3; }
  ;

expr_list
  : expr                { $$.v = NULL; $$.n = $$.cap = 0; vec_push(A, &$$, $1); }
  | expr_list ',' expr  { $$ = $1; vec_push(A, &$$, $3); }
  | expr_list ','       { $$ = $1; }
  ;

index_items
  : index_item                  { $$.v = NULL; $$.n = $$.cap = 0; vec_push(A, &$$, $1); }
  | index_items ',' index_item  { $$ = $1; vec_push(A, &$$, $3); }
  ;

index_item
  : expr {
      $$ = NEW(A, IndexItem); $$->kind = IX_AT; $$->start = $1; $$->loc = @$;
    }
  | opt_expr ':' opt_expr {
      $$ = NEW(A, IndexItem); $$->kind = IX_SLICE; $$->start = $1; $$->stop = $3;
      $$->loc = @$;
    }
  | opt_expr ':' opt_expr ':' opt_expr {
      $$ = NEW(A, IndexItem); $$->kind = IX_SLICE; $$->start = $1; $$->stop = $3;
      $$->step = $5; $$->loc = @$;
    }
  ;

opt_expr
  : %empty  { $$ = NULL; }
  | expr    { $$ = $1; }
  ;

%%

static Expr *mk(Parser *p, ExprKind k, Loc loc) {
  Expr *e = NEW(p->a, Expr);
  e->kind = k;
  e->loc = loc;
  e->depth = 1;
  if (++p->nexprs > MAX_EXPRS && !p->ls->fatal) {
    diag_error(p->d, loc, "the file is too large: more than %d expressions", MAX_EXPRS);
    p->ls->fatal = true;
  }
  return e;
}

static int max_depth(int d, const Expr *e) { return e && e->depth > d ? e->depth : d; }

/* Set the height of a composite node from its children's and refuse trees
 * higher than MAX_EXPR_DEPTH: every later pass recurses over them. */
static Expr *seal(Parser *p, Expr *e) {
  int h = 0;
  switch (e->kind) {
  case EX_UNARY: h = max_depth(h, e->un.x); break;
  case EX_BINARY: h = max_depth(max_depth(h, e->bin.l), e->bin.r); break;
  case EX_CALL:
    for (int i = 0; i < e->call.nargs; i++) h = max_depth(h, e->call.args[i].value);
    break;
  case EX_INDEX:
    h = max_depth(h, e->index.base);
    for (int i = 0; i < e->index.nitems; i++) {
      const IndexItem *it = &e->index.items[i];
      h = max_depth(max_depth(max_depth(h, it->start), it->stop), it->step);
    }
    break;
  case EX_LIST:
    for (int i = 0; i < e->list.n; i++) h = max_depth(h, e->list.elems[i]);
    break;
  default: break;
  }
  e->depth = h + 1;
  if (e->depth > MAX_EXPR_DEPTH && !p->ls->fatal) {
    diag_error(p->d, e->loc, "expression nested too deeply (the limit is %d levels)", MAX_EXPR_DEPTH);
    p->ls->fatal = true;
  }
  return e;
}

static Expr *mk_bin(Parser *p, BinOp op, Expr *l, Expr *r, Loc all, Loc op_loc) {
  Expr *e = mk(p, EX_BINARY, all);
  e->bin.op = op;
  e->bin.l = l;
  e->bin.r = r;
  e->bin.op_loc = op_loc;
  return seal(p, e);
}

static Stmt *mk_stmt(Parser *p, StmtKind k, Loc loc) {
  Stmt *s = NEW(p->a, Stmt);
  s->kind = k;
  s->loc = loc;
  return s;
}

static void append_stmt(Stmt **head, Stmt **tail, Stmt *s) {
  if (*tail)
    (*tail)->next = s;
  else
    *head = s;
  *tail = s;
}

static void yyerror(YYLTYPE *loc, Parser *p, const char *msg) {
  if (p->ls->fatal) return;
  if (!strcmp(msg, "memory exhausted"))
    diag_error(p->d, *loc, "the program is nested too deeply to parse");
  else
    diag_error(p->d, *loc, "%s", msg);
}

/* Token names for messages: bison's names with its quotes simplified. */
static const char *tok_name(yysymbol_kind_t k) {
  switch (k) {
  case YYSYMBOL_YYEOF: return "end of file";
  default: return yysymbol_name(k);
  }
}

static bool in_list(const char *nm, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(nm, list[i])) return true;
  return false;
}

/* "expected X, Y or Z, found T". Expression starters are summarized as
 * "expression" and binary operators as "an operator" so messages stay
 * short; the closing bracket of the innermost open one comes first, with a
 * note at its opening. LAC (parse.lac) makes the expected set exact. */
static int yyreport_syntax_error(const yypcontext_t *ctx, Parser *p) {
  if (p->ls->fatal) return 0;
  enum { MAXEXP = 64 };
  static const char *const starters[] = {"integer", "number", "string", "identifier",
      "'true'", "'false'", "type name", "'('", "'['", "'-'", "'+'", "'!'"};
  static const char *const binops[] = {"'+'", "'-'", "'*'", "'/'", "'%'", "'@'", "'**'", "'=='",
      "'!='", "'<'", "'<='", "'>'", "'>='", "'&&'", "'||'"};
  static const char *const closers[] = {"')'", "']'", "'}'"};
  yysymbol_kind_t exp[MAXEXP];
  int n = yypcontext_expected_tokens(ctx, exp, MAXEXP);
  yysymbol_kind_t got = yypcontext_token(ctx);
  const YYLTYPE *loc = yypcontext_location(ctx);
  const LexState *ls = p->ls;
  /* The bracket still open here. The lexer is one token ahead: a closer as
   * lookahead has been matched already, and if it skipped an open bracket
   * (`f(x }`), that one is the bracket meant. */
  const OpenBracket *ob = NULL;
  if (in_list(tok_name(got), closers, 3)) {
    if (ls->unclosed_by.line == loc->line && ls->unclosed_by.col == loc->col) ob = &ls->unclosed;
  } else if (ls->depth > 0) {
    ob = &ls->open[ls->depth - 1];
  }
  const char *close = NULL;
  if (ob) {
    const char *want = ob->ch == '(' ? "')'" : ob->ch == '[' ? "']'" : "'}'";
    for (int i = 0; i < n; i++)
      if (!strcmp(tok_name(exp[i]), want)) close = want;
  }
  bool has_expr = false, has_op = false;
  for (int i = 0; i < n; i++)
    if (exp[i] == YYSYMBOL_INT) has_expr = true;
  const char *names[MAXEXP + 3];
  int k = 0;
  if (close) names[k++] = close;
  if (has_expr) names[k++] = "expression";
  int ops_at = k++;
  for (int i = 0; i < n; i++) {
    yysymbol_kind_t s = exp[i];
    if (s == YYSYMBOL_YYerror || s == YYSYMBOL_YYUNDEF) continue;
    const char *nm = tok_name(s);
    if ((close && !strcmp(nm, close)) || (has_expr && in_list(nm, starters, 12))) continue;
    if (in_list(nm, binops, 15)) {
      has_op = true;
      continue;
    }
    names[k++] = nm;
  }
  /* after an operand, '(' is a call and '[' an index: operators too */
  for (int i = ops_at + 1; has_op && i < k; i++)
    if (!strcmp(names[i], "'('") || !strcmp(names[i], "'['")) {
      memmove(&names[i], &names[i + 1], sizeof *names * (size_t)(k - i - 1));
      k--;
      i--;
    }
  if (has_op) names[ops_at] = "an operator";
  else memmove(&names[ops_at], &names[ops_at + 1], sizeof *names * (size_t)(k - ops_at - 1)), k--;
  if (k > 5) k = 5;
  char buf[512];
  size_t o = 0;
  if (n == 0 || k == 0) {
    o += (size_t)snprintf(buf + o, sizeof buf - o, "unexpected %s", tok_name(got));
  } else {
    o += (size_t)snprintf(buf + o, sizeof buf - o, "expected ");
    for (int i = 0; i < k; i++)
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i == 0 ? "" : (i == k - 1 ? " or " : ", "), names[i]);
    o += (size_t)snprintf(buf + o, sizeof buf - o, ", found %s", tok_name(got));
  }
  diag_error(p->d, *loc, "%s", buf);
  if (ob && (close || got == YYSYMBOL_YYEOF)) diag_note(p->d, ob->loc, "to match this '%c'", ob->ch);
  return 0;
}
