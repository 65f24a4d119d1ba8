# fuzz.cmake — the libFuzzer target for the front end (tests/fuzz/), built
# only when configured with -DNNC_FUZZ=ON and clang; scripts/fuzz.sh does
# that in its own build directory and runs it. nnc_core is instrumented for
# coverage and ASan+UBSan; every program linking it gets the sanitizer
# runtimes (the coverage hooks have weak defaults there).
if(NOT NNC_FUZZ)
  return()
endif()
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "NNC_FUZZ needs clang (configure with CC=clang-19)")
endif()
set(NNC_FUZZ_SAN -fsanitize=address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)
target_compile_options(nnc_core PRIVATE -fsanitize=fuzzer-no-link ${NNC_FUZZ_SAN})
target_link_options(nnc_core INTERFACE -fsanitize=address,undefined)

add_executable(fuzz_frontend ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_frontend.c)
target_compile_options(fuzz_frontend PRIVATE -fsanitize=fuzzer ${NNC_FUZZ_SAN})
target_link_options(fuzz_frontend PRIVATE -fsanitize=fuzzer)
target_link_libraries(fuzz_frontend nnc_core)
