# dot.cmake — --emit=dot (compiler/emit_dot.c): every sample and the
# tests/nn models with loops and derivatives drawn by Graphviz without an
# error or a warning (tests/dot/run_dot.sh; skipped, exit 77, when `dot` is
# not installed), and the golden DOT of small models (tests/dot/*.nn,
# through the FileCheck-style checker of ir.cmake).
file(GLOB DOT_MODELS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/samples/*.nn)
foreach(m nested_loops checkpoint deriv dyn_rnn rnn_twins dyn_deriv)
  list(APPEND DOT_MODELS ${CMAKE_SOURCE_DIR}/tests/nn/${m}.nn)
endforeach()
foreach(f ${DOT_MODELS})
  file(RELATIVE_PATH name ${CMAKE_SOURCE_DIR} ${f})
  add_test(NAME dot/${name} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/dot/run_dot.sh $<TARGET_FILE:nnc> ${f})
  set_tests_properties(dot/${name} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
# Graphviz lays out tiny_gpt's 2,000 instructions in about 20 s of CPU
set_tests_properties(dot/samples/tiny_gpt.nn PROPERTIES LABELS slow)

file(GLOB DOT_GOLDEN CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/dot/*.nn)
foreach(f ${DOT_GOLDEN})
  get_filename_component(name ${f} NAME)
  add_test(NAME dot/golden/${name} COMMAND filecheck $<TARGET_FILE:nnc> ${f})
endforeach()
