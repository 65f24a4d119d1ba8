# ir.cmake — golden IR tests: every tests/ir/*.nn and tests/ir/*.ir is one
# ctest, run by the FileCheck-style checker tests/filecheck.c (see its
# header for the RUN/CHECK syntax; `filecheck -v NNC FILE` prints each
# case's output). With -DNNC_FUZZ=ON also the libFuzzer target of the IR
# parser and verifier (tests/fuzz/fuzz_ir.c, seeds in tests/fuzz/ir_corpus/).
add_executable(filecheck ${CMAKE_CURRENT_SOURCE_DIR}/filecheck.c)

file(GLOB IR_GOLDEN CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/ir/*.nn ${CMAKE_CURRENT_SOURCE_DIR}/ir/*.ir)
foreach(f ${IR_GOLDEN})
  get_filename_component(name ${f} NAME)
  add_test(NAME ir/${name} COMMAND filecheck $<TARGET_FILE:nnc> ${f})
endforeach()

if(NNC_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "NNC_FUZZ needs clang (configure with CC=clang-19)")
  endif()
  add_executable(fuzz_ir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_ir.c)
  target_compile_options(fuzz_ir PRIVATE -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(fuzz_ir PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_ir nnc_core)
endif()

# the compiler's output does not depend on heap addresses (tests/ir/reproducible.sh)
add_test(NAME ir/reproducible COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/ir/reproducible.sh $<TARGET_FILE:nnc>)
