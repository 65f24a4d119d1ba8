/* ir.h — the tensor-level SSA IR.
 *
 * A Module holds the model's parameters and Funcs. A Func's body is a Block
 * whose arguments are the function's arguments; a Block is a list of Insts.
 * Every Inst defines its results (Values) exactly once; a Value has a static
 * Type. Control flow is structured: the only region-holding op is `for`:
 *
 *   %r:K = for %i = LO to HI carry(%c1 = %init1, ...) {    (attrs lo hi ncarry reverse)
 *     ...                                       the body may use any value
 *     yield %next1, ..., %s1, ...               defined before the `for`
 *   }
 *
 * Operands of `for` are the ncarry initial values. The body block's
 * arguments are [%i (i32 scalar), %c1..%cN]. `yield` gives ncarry next
 * values, then any number of "stacked" values: the `for` has ncarry results
 * (final carried values) followed by one result per stacked value, of shape
 * [HI-LO, ...]: row i-LO holds iteration i's value. With `reverse`, i runs
 * from HI-1 down to LO (rows still indexed by i-LO). Stacked outputs are how
 * the forward loop of a gradient fills its tapes.
 *
 * Instructions carry the .nn position they come from, and an optional note
 * (the gradient generator records which primal instruction an adjoint
 * instruction comes from). The text format (ir_print.c / ir_parse.c) prints
 * and parses back exactly. */
#ifndef NNC_IR_H
#define NNC_IR_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "spec.h"
#include "types.h"

typedef enum Op {
#define OP(id, name, nargs, attrs, shape, vjp, jvp, lc, flags, meaning) OP_##id,
#include "ops.def"
#undef OP
  OP_COUNT
} Op;

/* How the backend lowers an op. */
typedef enum LowerClass {
  LC_NONE,    /* terminators */
  LC_ELEM,    /* elementwise (with broadcasting): fused into loop nests */
  LC_REDUCE,  /* reductions */
  LC_SHAPE,   /* data movement: reshape, transpose, slices, concat */
  LC_MATMUL,  /* GEMM */
  LC_CONV,    /* convolution kernels */
  LC_POOL,    /* pooling kernels */
  LC_GATHER,  /* gather / scatter-add */
  LC_LOOP     /* for */
} LowerClass;

enum OpFlags {
  F_TYPED = 1 << 0,       /* the result type is given, not derived (reshape, const...) */
  F_NODIFF = 1 << 1,      /* the result carries no gradient */
  F_COMMUTATIVE = 1 << 2, /* op(a, b) == op(b, a) (CSE canonicalizes) */
  F_TERMINATOR = 1 << 3,  /* ends a block */
  F_REGION = 1 << 4       /* owns a body block */
};

typedef struct OpInfo {
  const char *name;
  int nargs;            /* -1: variadic */
  const char *attrs;    /* schema, see ops.def */
  LowerClass lc;
  unsigned flags;
  const char *meaning;
} OpInfo;

extern const OpInfo op_info[OP_COUNT];
Op op_by_name(const char *name); /* OP_COUNT when unknown */

#define MAX_IATTR 24

/* Attributes as they are built: integers laid out by the op's schema, and
 * one float (ir_build copies them into the instruction). */
typedef struct Attr {
  int64_t i[MAX_IATTR];
  int ni;
  double f;
} Attr;

/* An instruction's attributes, read like an Attr (in->attr.i[k] for k <
 * ni): only its ni integers are stored (a fixed array cost ~200 bytes an
 * instruction). Set by ir_set_attr; ir_attr copies them out to change. */
typedef struct InstAttr {
  int64_t *i;         /* ni integers in the IR's arena; NULL when ni = 0 */
  int ni;
  double f;
} InstAttr;

/* Source position of an instruction; line 0 = none. */
typedef struct Pos {
  int line, col;
} Pos;

typedef struct Value Value;
typedef struct Inst Inst;
typedef struct Block Block;
typedef struct Func Func;

struct Value {
  Type ty;
  Inst *def;          /* defining instruction, or NULL for a block argument */
  int res;            /* result index in def, or argument index in block */
  Block *block;       /* block argument: its block */
  const char *name;   /* readable name ("h1", "W1.grad"), or NULL */
  Value *primal;      /* an adjoint (grad.c): the value it is the adjoint of, or NULL.
                         Cloning maps it; a pass's fresh replacement inherits it. */
  int id;             /* scratch: printer numbering, pass maps (see ir_number) */
  int nuse;           /* scratch: use count, valid after ir_count_uses */
};

/* (The ints first: no padding, 104 bytes.) */
struct Inst {
  Op op;
  int nargs;
  int nres;
  int id;             /* scratch for passes */
  Value **args;
  Value **res;        /* results (one for every op but `for`) */
  InstAttr attr;
  Block *body;        /* `for` only */
  Pos pos;
  const char *note;   /* e.g. "grad of %h1 = relu" or NULL */
  Block *block;       /* containing block */
  Inst *prev, *next;
};

struct Block {
  Value **args;
  int nargs, cap;
  Inst *first, *last;
  Inst *parent;       /* the `for` owning this body; NULL for a function body */
};

/* What an argument or result of a function stands for in the generated
 * API; the gradient and training-step generators set these. */
typedef enum ArgRole {
  ARG_INPUT,    /* a user input */
  ARG_PARAM,    /* model parameter `index` */
  ARG_STATE,    /* optimizer state slot `index` (e.g. momentum of param) */
  ARG_SCALAR,   /* a run-time scalar the driver passes (learning rate, step) */
  ARG_GRAD      /* the gradient buffer's entry for parameter `index` (apply_update) */
} ArgRole;

typedef enum ResRole {
  RES_OUTPUT,   /* a user-visible result */
  RES_LOSS,     /* the scalar loss of a gradient function */
  RES_GRAD,     /* gradient of parameter `index` */
  RES_INPUT_GRAD, /* gradient of input argument `index` */
  RES_NEW_PARAM,  /* updated value of parameter `index` */
  RES_NEW_STATE   /* updated optimizer state slot `index` */
} ResRole;

/* Indices of ARG_SCALAR arguments. SCALAR_DIM is the run-time size of
 * the model's `dim` (an i32 in 1..bound): a function whose values have a
 * run-time axis takes it, and its loops, kernels and means read it. */
enum { SCALAR_SEED = 0, SCALAR_LR = 1, SCALAR_STEP = 2, SCALAR_DIM = 3 };
/* The SCALAR_DIM argument of f, or NULL. */
Value *ir_dim_arg(const Func *f);

typedef struct Role {
  int kind;     /* ArgRole or ResRole */
  int index;
} Role;

struct Func {
  const char *name;
  Block *body;          /* args = function arguments */
  Role *arg_role;       /* per argument (room for caprole) */
  Type *ret;            /* result types */
  Role *ret_role;
  const char **ret_name;
  int nret;
  int caprole, capret;  /* room in arg_role, and in ret/ret_role/ret_name */
  Pos pos;
  bool is_grad;         /* produced by the AD transformation */
  bool has_deriv;       /* a user function whose code holds derivatives (grad, jvp in .nn) */
};

typedef struct IrParam {
  const char *name;
  Type ty;
  InitSpec init;
  Pos pos;
} IrParam;

typedef struct Module {
  Arena *a;
  const char *name;      /* the model's name */
  const char *file;      /* source file name, for positions */
  IrParam *params;
  int nparams;
  Func **funcs;
  int nfuncs, capfuncs;
  const TrainSpec *train; /* from the checker, or NULL */
} Module;

/* ---- construction ------------------------------------------------------ */

Module *ir_module_new(Arena *a, const char *name, const char *file);
Func *ir_func_new(Module *m, const char *name);
Func *ir_find_func(const Module *m, const char *name);
Block *ir_block_new(Arena *a, Inst *parent);
Value *ir_block_add_arg(Arena *a, Block *b, Type ty, const char *name);
void ir_func_add_arg(Arena *a, Func *f, Type ty, const char *name, Role role);
void ir_func_add_result(Arena *a, Func *f, Type ty, const char *name, Role role);

/* A builder appends instructions at the end of a block, or before `before`
 * when set, stamping each with the current position and note. */
typedef struct Builder {
  Arena *a;
  Block *block;
  Inst *before;       /* insert before this instruction, or NULL = append */
  Pos pos;
  const char *note;
} Builder;

/* Create an instruction. `ty` is used for F_TYPED ops and otherwise
 * computed by the op's shape rule (it is a bug to build an ill-typed op:
 * die()). Returns the first result. */
Value *ir_build(Builder *b, Op op, Value **args, int nargs, const Attr *attr, const Type *ty);
/* in's attributes as an Attr (integers past ni are 0), to build from */
Attr ir_attr(const Inst *in);
/* Gives in the attributes *at (NULL: none), its integers stored in a. */
void ir_set_attr(Arena *a, Inst *in, const Attr *at);
/* The attributes of a `for` (see the top of this file). */
void ir_set_loop_attr(Arena *a, Inst *in, int64_t lo, int64_t hi, int64_t ncarry, bool reverse, bool checkpoint);
Inst *ir_build_inst(Builder *b, Op op, Value **args, int nargs, const Attr *attr,
                    const Type *res_types, int nres);

/* Convenience builders. */
Value *ir_unary(Builder *b, Op op, Value *x);
Value *ir_binary(Builder *b, Op op, Value *x, Value *y);
Value *ir_const(Builder *b, DType dt, int rank, const int64_t *dims, double v);
Value *ir_const_like(Builder *b, const Type *t, double v);
Value *ir_scalar(Builder *b, DType dt, double v);
Value *ir_reshape(Builder *b, Value *x, const Type *to);
Value *ir_reduce_sum(Builder *b, Value *x, const int64_t *axes, int naxes);
Value *ir_transpose(Builder *b, Value *x, const int64_t *perm);
Value *ir_cast(Builder *b, Value *x, DType to);
/* Sum x down to shape `to` (undoes NumPy broadcasting of `to` into x's shape). */
Value *ir_unbroadcast(Builder *b, Value *x, const Type *to);
Value *ir_broadcast(Builder *b, Value *x, const Type *to);

/* ---- editing ----------------------------------------------------------- */

struct PtrMap;
/* Copy an instruction (with its loop body) through `map` (old value -> new
 * value; operands must be mapped already); the copies' values are added to
 * the map. */
void ir_clone_inst(Builder *b, Inst *in, struct PtrMap *map);
void ir_clone_block(Builder *b, Block *src, struct PtrMap *map);
/* The values `in` (with its body, if any) reads from outside itself, once
 * each. */
void ir_free_values(Arena *a, Inst *in, PtrVec *out);

void ir_insert_before(Inst *pos, Inst *in);
void ir_append(Block *b, Inst *in);
void ir_remove(Inst *in);
/* Replace every use of `from` in `b` (recursively into bodies) by `to`. */
void ir_replace_uses(Block *b, Value *from, Value *to);

/* ---- queries ----------------------------------------------------------- */

/* Compute Value.nuse for every value defined or used in f. */
void ir_count_uses(Func *f);
int ir_count_insts(const Func *f);  /* recursively, including loop bodies */
bool ir_is_const(const Value *v, double *val); /* defined by `const` */

/* ---- shape rules (shape.c) ------------------------------------------------ */

/* Compute the result types of `in` (from operands and attributes) into
 * out[0..nres); for F_TYPED ops check the given types. On failure write a
 * message into err and return false. */
bool ir_infer(const Inst *in, Type *out, int nres, char *err, size_t errn);
/* Number of integer attributes the op's schema asks for, or -1 (any). */
int ir_attr_count(const Inst *in);

/* ---- text format (ir_print.c / ir_parse.c) ----------------------------------- */

void ir_print_module(FILE *out, const Module *m);
void ir_print_func(FILE *out, const Module *m, const Func *f);
void ir_print_init(FILE *out, const InitSpec *s);
void ir_print_train(FILE *out, const TrainSpec *t); /* the train block (text in ir_print.c) */
/* The names the printer gives f's values (without the %): unique within f,
 * ".N" suffixes on repeated names, numbers for unnamed values. Computing
 * them sets Value.id of every value of f (scratch); they stay valid until
 * the function changes. Other views of the IR (emit_dot.c) name values
 * the same way. */
typedef struct IrNames IrNames;
IrNames *ir_names(Arena *a, const Func *f);
const char *ir_name(const IrNames *n, const Value *v);
/* Parse the text format. On error, messages go to d (located) and NULL is
 * returned. */
Module *ir_parse(Arena *a, Diag *d, const char *src, size_t len);

/* ---- verifier (verify.c) --------------------------------------------------- */

/* Check SSA dominance, operand counts, attribute counts and types (by
 * recomputing shape rules). Writes problems to `out` and returns false. */
bool ir_verify_func(const Module *m, const Func *f, FILE *out);
bool ir_verify_module(const Module *m, FILE *out);

#endif
