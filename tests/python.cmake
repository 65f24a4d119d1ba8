# python.cmake — the modules of `nnc --emit=python` (tests/python/). nnc
# writes a library and its module at build time into ${PY_DIR} for
# samples/fashion_mlp.nn, tests/nn/dyn_mlp.nn (a run-time batch) and
# tests/nn/deriv.nn (derivatives in functions, f64); each test_*.py is a
# ctest run with NNC_PYTHON (Debian's interpreter, whose NumPy is the one
# python3-numpy installs) and is skipped (exit 77) when it has no NumPy.
# c_call (c_call.c) computes the C API's results the modules are compared with.
set(PY_DIR ${CMAKE_CURRENT_BINARY_DIR}/python)
set(NNC_PYTHON /usr/bin/python3 CACHE FILEPATH "the Python with NumPy that tests the modules of --emit=python")

set(py_outputs)
foreach(model samples/fashion_mlp tests/nn/dyn_mlp tests/nn/deriv)
  get_filename_component(name ${model} NAME)
  add_custom_command(
    OUTPUT ${PY_DIR}/lib${name}.so ${PY_DIR}/${name}.h ${PY_DIR}/${name}.py
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PY_DIR}
    COMMAND nnc ${CMAKE_SOURCE_DIR}/${model}.nn --emit=python -o ${PY_DIR}/lib${name}.so
    DEPENDS nnc nnrt ${CMAKE_SOURCE_DIR}/${model}.nn
    COMMENT "nnc: ${name}.py for the Python tests"
    VERBATIM)
  list(APPEND py_outputs ${PY_DIR}/lib${name}.so ${PY_DIR}/${name}.py)
endforeach()
add_executable(c_call ${CMAKE_CURRENT_SOURCE_DIR}/python/c_call.c)
target_link_libraries(c_call ${CMAKE_DL_LIBS})
add_custom_target(python_modules ALL DEPENDS ${py_outputs})
add_dependencies(c_call python_modules)

# A sanitized build's libraries need the sanitizer runtime first in the
# process; Python's own allocations are not ours to leak-check.
set(py_env NNC_PY_DIR=${PY_DIR} NNC_C_CALL=$<TARGET_FILE:c_call> NNC_EXE=$<TARGET_FILE:nnc>
    NNC_SOURCE_DIR=${CMAKE_SOURCE_DIR} PYTHONDONTWRITEBYTECODE=1)
if(NNC_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so OUTPUT_VARIABLE asan_lib
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND py_env LD_PRELOAD=${asan_lib} ASAN_OPTIONS=detect_leaks=0)
endif()

foreach(t mlp dyn deriv example)
  if(EXISTS ${NNC_PYTHON})
    add_test(NAME python/${t} COMMAND ${NNC_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/python/test_${t}.py)
  else()
    add_test(NAME python/${t} COMMAND sh -c "echo 'skipped: no ${NNC_PYTHON}'; exit 77")
  endif()
  set_tests_properties(python/${t} PROPERTIES ENVIRONMENT "${py_env}" SKIP_RETURN_CODE 77)
endforeach()
