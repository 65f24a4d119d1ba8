/* test_abi_layout.c — the compiler-runtime contract: the descriptor structs
 * the backend rebuilds field by field as LLVM types (llvm_module.c,
 * make_types) have, under the host's data layout, the size and every field
 * offset that the C compiler gives rt_model.h's structs, and the runtime
 * was compiled with the same sizes. A field added to, removed from or
 * reordered in one side only fails here. */
#include <stddef.h>

#include "unit_main.h"
#include "backend.h"
#include "rt_model.h"

#define MAXF 40

typedef struct Layout {
  const char *name;
  size_t size;
  int nfields;
  size_t off[MAXF], fsize[MAXF];
  const char *field[MAXF];
} Layout;

static Layout c_layout(CgAbiStruct which) {
  Layout l = {0};
  /* FIELD(s, f): one field's name, C offset and size, in declaration order */
#define FIELD(s, f) \
  (l.field[l.nfields] = #f, l.fsize[l.nfields] = sizeof(((s *)0)->f), l.off[l.nfields++] = offsetof(s, f))
  switch (which) {
  case CG_ABI_SLOT:
    l.name = "rt_slot", l.size = sizeof(rt_slot);
    FIELD(rt_slot, role), FIELD(rt_slot, index), FIELD(rt_slot, dtype), FIELD(rt_slot, rank);
    FIELD(rt_slot, shape), FIELD(rt_slot, name), FIELD(rt_slot, index_bound), FIELD(rt_slot, dyn_axes);
    break;
  case CG_ABI_TENSOR_INFO:
    l.name = "nn_tensor_info", l.size = sizeof(nn_tensor_info);
    FIELD(nn_tensor_info, name), FIELD(nn_tensor_info, rank), FIELD(nn_tensor_info, shape);
    FIELD(nn_tensor_info, offset), FIELD(nn_tensor_info, numel);
    break;
  case CG_ABI_PARAM:
    l.name = "rt_param_desc", l.size = sizeof(rt_param_desc);
    FIELD(rt_param_desc, info), FIELD(rt_param_desc, dtype), FIELD(rt_param_desc, byte_offset);
    FIELD(rt_param_desc, init_kind), FIELD(rt_param_desc, init_a), FIELD(rt_param_desc, init_b);
    break;
  case CG_ABI_FUNC:
    l.name = "rt_func_desc", l.size = sizeof(rt_func_desc);
    FIELD(rt_func_desc, name), FIELD(rt_func_desc, impl), FIELD(rt_func_desc, nargs), FIELD(rt_func_desc, nres);
    FIELD(rt_func_desc, args), FIELD(rt_func_desc, res), FIELD(rt_func_desc, nuser_in);
    FIELD(rt_func_desc, nuser_out), FIELD(rt_func_desc, ws_bytes), FIELD(rt_func_desc, dim_bound);
    break;
  case CG_ABI_TRAIN:
    l.name = "rt_train_desc", l.size = sizeof(rt_train_desc);
    FIELD(rt_train_desc, loss_fn), FIELD(rt_train_desc, train_fn), FIELD(rt_train_desc, predict_fn);
    FIELD(rt_train_desc, generate_fn), FIELD(rt_train_desc, optimizer), FIELD(rt_train_desc, lr);
    FIELD(rt_train_desc, momentum), FIELD(rt_train_desc, weight_decay), FIELD(rt_train_desc, beta1);
    FIELD(rt_train_desc, beta2), FIELD(rt_train_desc, eps), FIELD(rt_train_desc, nesterov);
    FIELD(rt_train_desc, schedule), FIELD(rt_train_desc, sched_every), FIELD(rt_train_desc, sched_warmup);
    FIELD(rt_train_desc, sched_gamma), FIELD(rt_train_desc, sched_min_lr), FIELD(rt_train_desc, clip_norm);
    FIELD(rt_train_desc, epochs), FIELD(rt_train_desc, seed), FIELD(rt_train_desc, data_kind);
    FIELD(rt_train_desc, test_kind), FIELD(rt_train_desc, data_path), FIELD(rt_train_desc, test_path);
    FIELD(rt_train_desc, data_scale), FIELD(rt_train_desc, test_scale), FIELD(rt_train_desc, data_split);
    FIELD(rt_train_desc, test_split), FIELD(rt_train_desc, data_label_col), FIELD(rt_train_desc, test_label_col);
    FIELD(rt_train_desc, nstate), FIELD(rt_train_desc, nclasses), FIELD(rt_train_desc, grad_fn);
    FIELD(rt_train_desc, update_fn);
    break;
  case CG_ABI_MODEL:
    l.name = "rt_model_desc", l.size = sizeof(rt_model_desc);
    FIELD(rt_model_desc, magic), FIELD(rt_model_desc, abi_version), FIELD(rt_model_desc, desc_bytes);
    FIELD(rt_model_desc, name), FIELD(rt_model_desc, build_info), FIELD(rt_model_desc, source_hash);
    FIELD(rt_model_desc, nparams), FIELD(rt_model_desc, params), FIELD(rt_model_desc, param_bytes);
    FIELD(rt_model_desc, state_bytes), FIELD(rt_model_desc, nfuncs), FIELD(rt_model_desc, funcs);
    FIELD(rt_model_desc, ws_bytes), FIELD(rt_model_desc, train);
    break;
  default: break;
  }
#undef FIELD
  return l;
}

/* Every struct: the same element count, size, and offset and size of
 * every field on both sides. */
static void test_layouts_match(void) {
  for (int w = 0; w < CG_ABI_NSTRUCTS; w++) {
    Layout c = c_layout((CgAbiStruct)w);
    size_t size = 0, off[MAXF] = {0}, fsize[MAXF] = {0};
    int n = codegen_abi_layout((CgAbiStruct)w, &size, off, fsize, MAXF);
    CU_ASSERT_EQUAL(n, c.nfields);
    if (n != c.nfields) fprintf(stderr, "%s: LLVM type has %d fields, the C struct %d\n", c.name, n, c.nfields);
    CU_ASSERT_EQUAL(size, c.size);
    if (size != c.size) fprintf(stderr, "%s: LLVM size %zu, C size %zu\n", c.name, size, c.size);
    for (int i = 0; i < n && i < c.nfields; i++) {
      CU_ASSERT_EQUAL(off[i], c.off[i]);
      if (off[i] != c.off[i])
        fprintf(stderr, "%s.%s: LLVM offset %zu, C offset %zu\n", c.name, c.field[i], off[i], c.off[i]);
      CU_ASSERT_EQUAL(fsize[i], c.fsize[i]);
      if (fsize[i] != c.fsize[i])
        fprintf(stderr, "%s.%s: LLVM size %zu, C size %zu\n", c.name, c.field[i], fsize[i], c.fsize[i]);
    }
  }
}

/* The runtime library was compiled with the sizes this test sees. */
static void test_runtime_sizes(void) {
  size_t rt[CG_ABI_NSTRUCTS];
  rt_model_struct_sizes(rt);
  for (int w = 0; w < CG_ABI_NSTRUCTS; w++) CU_ASSERT_EQUAL(rt[w], c_layout((CgAbiStruct)w).size);
}

static UnitTest tests[] = {{"layouts_match", test_layouts_match},
                           {"runtime_sizes", test_runtime_sizes},
                           {0, 0}};

int main(void) { return unit_run("abi_layout", tests); }
