# errors.cmake — golden diagnostics (tests/errors/*.nn against *.err, see
# run_errors.sh; regenerate on purpose with `bash tests/run_errors.sh
# build/compiler/nnc --regen`), the command line (run_cli.sh), replay of
# the inputs the fuzzer once crashed on (tests/fuzz/crashers/, when there
# are any), and the check that docs/language.md documents every builtin of
# builtins.def, every initializer and every train setting.
add_test(NAME golden_errors
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_errors.sh $<TARGET_FILE:nnc>)
add_test(NAME nnc_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_cli.sh $<TARGET_FILE:nnc>)
file(GLOB NNC_FUZZ_CRASHERS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/crashers/*)
if(NNC_FUZZ_CRASHERS)
  add_test(NAME fuzz_crashers
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay.sh $<TARGET_FILE:nnc>)
endif()
add_test(NAME docs_builtins
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_docs.sh ${CMAKE_SOURCE_DIR})
# large but valid generated programs (tests/fuzz/large_valid.sh): many
# parameters, vars, arguments and inputs, deep call chains, wide concats
add_test(NAME fuzz_large_valid
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/large_valid.sh $<TARGET_FILE:nnc>)
# compile-time limits (tests/fuzz/reroll.sh): the LLVM code of long
# programs does not grow with their length, and computes what the
# interpreter does
add_test(NAME fuzz_reroll
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/reroll.sh $<TARGET_FILE:nnc>)
