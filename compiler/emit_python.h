/* emit_python.h — the Python module of `--emit=python` (emit_python.c). */
#ifndef NNC_EMIT_PYTHON_H
#define NNC_EMIT_PYTHON_H
#include "emit_lib.h"

/* The .nn file a module comes from: its docstrings are the comments there. */
typedef struct PySource {
  const char *file;  /* the file's name, for the module's docstring */
  const char *text;  /* its text */
  size_t len;
  int model_line;    /* the line of `model NAME` */
} PySource;

/* Write the module at path: a class over the library `library` (a file
 * name, looked up in the module's own directory) through ctypes. Returns
 * false with a message in err. */
bool write_python(const CodeGen *cg, const Compiled *c, const char *path, const char *library, const PySource *src,
                  char *err, size_t errn);

#endif
