# abi.cmake — the C ABI of generated libraries (tests/abi/, see abi.h).
# nnc builds two libraries at build time into ${ABI_DIR}: fashion_mlp with a
# batch bound of 8, and fashion_cnn with a bound of 2 renamed abi_cnn (so the two
# APIs differ in prefix as two users' libraries would). abi_test includes
# their headers and dlopens them by absolute path; it writes its files into
# a fresh directory under $TMPDIR, so any working directory will do.
set(ABI_DIR ${CMAKE_CURRENT_BINARY_DIR}/abi)

function(nnc_abi_library name source)
  add_custom_command(
    OUTPUT ${ABI_DIR}/lib${name}.so ${ABI_DIR}/${name}.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${ABI_DIR}
    COMMAND nnc ${source} --emit=lib -o ${ABI_DIR}/lib${name}.so ${ARGN}
    DEPENDS nnc nnrt ${source}
    COMMENT "nnc: lib${name}.so for the ABI test"
    VERBATIM)
endfunction()
nnc_abi_library(fashion_mlp ${CMAKE_SOURCE_DIR}/samples/fashion_mlp.nn -D B=8)
nnc_abi_library(abi_cnn ${CMAKE_SOURCE_DIR}/samples/fashion_cnn.nn -D B=2 --name=abi_cnn)
# a run-time batch (dim N <= 12): abi_dyn.c
nnc_abi_library(abi_dyn ${CMAKE_SOURCE_DIR}/tests/nn/dyn_mlp.nn --name=abi_dyn)
add_custom_target(abi_libs DEPENDS ${ABI_DIR}/libfashion_mlp.so ${ABI_DIR}/libabi_cnn.so ${ABI_DIR}/libabi_dyn.so)

add_executable(abi_test ${CMAKE_CURRENT_SOURCE_DIR}/abi/abi_main.c ${CMAKE_CURRENT_SOURCE_DIR}/abi/abi_api.c
               ${CMAKE_CURRENT_SOURCE_DIR}/abi/abi_ckpt.c ${CMAKE_CURRENT_SOURCE_DIR}/abi/abi_elf.c
               ${CMAKE_CURRENT_SOURCE_DIR}/abi/abi_dyn.c ${CMAKE_CURRENT_SOURCE_DIR}/abi/abi_hook.c)
add_dependencies(abi_test abi_libs)
target_include_directories(abi_test PRIVATE ${ABI_DIR} ${CUNIT_INCLUDE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(abi_test PRIVATE ${NNC_TEST_DEFS} ABI_DIR="${ABI_DIR}"
                           NNC_VERSION="${PROJECT_VERSION}")
# nnrt: the test's own copy of the safetensors reader and writer
target_link_libraries(abi_test nnrt ${CUNIT_LIBRARY} ${CMAKE_DL_LIBS} Threads::Threads m)
add_test(NAME abi COMMAND abi_test)

# Functions whose bodies take derivatives (tests/nn/deriv.nn, f64), through
# the library's C API against differences of its own functions.
nnc_abi_library(deriv ${CMAKE_SOURCE_DIR}/tests/nn/deriv.nn)
add_custom_target(abi_deriv_lib DEPENDS ${ABI_DIR}/libderiv.so ${ABI_DIR}/deriv.h)
add_executable(abi_deriv_test ${CMAKE_CURRENT_SOURCE_DIR}/abi/abi_deriv.c)
add_dependencies(abi_deriv_test abi_deriv_lib)
target_include_directories(abi_deriv_test PRIVATE ${ABI_DIR} ${CUNIT_INCLUDE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(abi_deriv_test PRIVATE ${NNC_TEST_DEFS})
target_link_libraries(abi_deriv_test ${ABI_DIR}/libderiv.so ${CUNIT_LIBRARY} m)
add_test(NAME abi_deriv COMMAND abi_deriv_test)
