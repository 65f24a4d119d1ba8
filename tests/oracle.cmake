# oracle.cmake — nnc's derivatives against an outside oracle: input
# gradients, gradient penalties and forward-over-reverse HVPs of every
# sample, interpreted in f64 and compiled in f32, against PyTorch autograd
# in f64 (bench/deriv_vs_torch.sh). Skipped (77) where Debian's
# python3-torch is not installed: the project never needs it. Release pass
# only (label slow): under ASan the compiled code is still checked against
# the interpreter by the unit and eval tests.
add_test(NAME oracle/deriv_vs_torch
         COMMAND bash ${CMAKE_SOURCE_DIR}/bench/deriv_vs_torch.sh $<TARGET_FILE:nnc>)
set_tests_properties(oracle/deriv_vs_torch PROPERTIES ENVIRONMENT NNC_SKIP_STATUS=77
                     SKIP_RETURN_CODE 77 LABELS slow TIMEOUT 900)
