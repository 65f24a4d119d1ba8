# train.cmake — end-to-end tests of the training programs (nnc MODEL.nn
# --emit=exe and nnc train): tests/train/train_tests.sh, one ctest per case,
# sharing the executables and data that the `train/setup` fixture builds in
# the build tree. The cases that need Fashion-MNIST exit 77 without it, which
# ctest reports as skipped; the others always run. The unit tests of the
# driver's parts (schedule, shuffling, batching, text, plot, checkpoint
# metadata) are tests/runtime/test_train.c.
add_executable(train_tool ${CMAKE_CURRENT_SOURCE_DIR}/train/train_tool.c)
target_link_libraries(train_tool nnrt)

set(TRAIN_WORK ${CMAKE_CURRENT_BINARY_DIR}/train_work)
set(TRAIN_SH ${CMAKE_CURRENT_SOURCE_DIR}/train/train_tests.sh)
add_test(NAME train/setup
         COMMAND bash ${TRAIN_SH} $<TARGET_FILE:nnc> $<TARGET_FILE:train_tool> ${TRAIN_WORK} setup)
set_tests_properties(train/setup PROPERTIES FIXTURES_SETUP train_exes)
foreach(case mlp cnn char bad_idx bad_npy bad_csv bad_text files metadata outputs temporaries resume checkpoint nan cli jit dynbatch dynchar pinn robust fromir)
  add_test(NAME train/${case}
           COMMAND bash ${TRAIN_SH} $<TARGET_FILE:nnc> $<TARGET_FILE:train_tool> ${TRAIN_WORK} ${case})
  set_tests_properties(train/${case} PROPERTIES FIXTURES_REQUIRED train_exes SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
