/* emit_lib.h — the generated header and linking (emit_lib.c). */
#ifndef NNC_EMIT_LIB_H
#define NNC_EMIT_LIB_H
#include "backend.h"

bool write_header(const CodeGen *cg, const Compiled *c, const char *path, const char *source, char *err, size_t errn);
/* The runtime archive generated code links against. */
const char *runtime_archive(void);
/* Link obj (+ extra_obj) with the runtime into a shared library or an
 * executable at out. Returns 0, or -1 with a message. */
int link_outputs(const char *obj, const char *out, bool shared, const char *extra_obj, char *err, size_t errn);

#endif
