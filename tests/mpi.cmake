# mpi.cmake — the split training step (NAME_grad + NAME_apply_update) and
# data-parallel training under Open MPI (tests/mpi/).
#
# mpi/grad_update: the two halves give train_step's bits, for three
# optimizers; mpi/one_copy: train_step is the two halves (both always run).
# The MPI cases are registered by the part below, which needs an MPI build
# (NNC_HAVE_MPI); without one they are absent and mpi/no_mpi checks the
# training program says MPI support was not built.
set(MPI_TEST_DIR ${CMAKE_CURRENT_BINARY_DIR}/mpi)

function(nnc_mpi_test_library name source)
  add_custom_command(
    OUTPUT ${MPI_TEST_DIR}/lib${name}.so ${MPI_TEST_DIR}/${name}.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${MPI_TEST_DIR}
    COMMAND nnc ${source} --emit=lib -o ${MPI_TEST_DIR}/lib${name}.so --name=${name} ${ARGN}
    DEPENDS nnc nnrt ${source}
    COMMENT "nnc: lib${name}.so for the split-step test"
    VERBATIM)
endfunction()
# the samples with a static batch (they declare a run-time one): the test's
# calls pass no size
foreach(sample fashion_mlp char_rnn tiny_gpt)
  file(READ ${CMAKE_SOURCE_DIR}/samples/${sample}.nn src)
  string(REGEX REPLACE "dim B <= [0-9]+" "const B = 1" src "${src}")
  file(WRITE ${MPI_TEST_DIR}/${sample}_static.nn "${src}")
endforeach()
nnc_mpi_test_library(gu_mlp ${MPI_TEST_DIR}/fashion_mlp_static.nn -D B=8)
nnc_mpi_test_library(gu_rnn ${MPI_TEST_DIR}/char_rnn_static.nn -D B=4 -D T=8 -D E=8 -D H=16)
nnc_mpi_test_library(gu_gpt ${MPI_TEST_DIR}/tiny_gpt_static.nn -D B=2 -D T=6 -D D=16 -D NH=2)
add_custom_target(gu_libs DEPENDS ${MPI_TEST_DIR}/libgu_mlp.so ${MPI_TEST_DIR}/libgu_rnn.so ${MPI_TEST_DIR}/libgu_gpt.so)
add_executable(grad_update_test ${CMAKE_CURRENT_SOURCE_DIR}/mpi/grad_update.c)
add_dependencies(grad_update_test gu_libs)
target_include_directories(grad_update_test PRIVATE ${MPI_TEST_DIR})
target_link_libraries(grad_update_test ${MPI_TEST_DIR}/libgu_mlp.so ${MPI_TEST_DIR}/libgu_rnn.so
                      ${MPI_TEST_DIR}/libgu_gpt.so)
add_test(NAME mpi/grad_update COMMAND grad_update_test)
# mpi/one_copy: train_step is the gradient function, then apply_update, in
# every sample's LLVM IR (the gradient code once in a library)
file(GLOB one_copy_samples ${CMAKE_SOURCE_DIR}/samples/*.nn)
add_test(NAME mpi/one_copy COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi/one_copy.sh $<TARGET_FILE:nnc> ${one_copy_samples})

# The training programs under mpirun (tests/mpi/mpi_tests.sh); the `setup`
# fixture builds them and the data subsets. Without MPI, mpi/no_mpi alone.
set(MPI_WORK ${CMAKE_CURRENT_BINARY_DIR}/mpi_work)
set(MPI_SH ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mpi_tests.sh)
if(NNC_HAVE_MPI)
  set(mpi_cases equal cnn_equal dropout robust per_rank sigint kill doc_example)
else()
  set(mpi_cases no_mpi)
endif()
add_test(NAME mpi/setup COMMAND bash ${MPI_SH} $<TARGET_FILE:nnc> $<TARGET_FILE:train_tool> ${MPI_WORK} setup)
set_tests_properties(mpi/setup PROPERTIES FIXTURES_SETUP mpi_exes SKIP_RETURN_CODE 77)
foreach(case ${mpi_cases})
  add_test(NAME mpi/${case} COMMAND bash ${MPI_SH} $<TARGET_FILE:nnc> $<TARGET_FILE:train_tool> ${MPI_WORK} ${case})
  # two ranks each: RUN_SERIAL keeps ctest -j2 from running two such cases
  # at once; label slow: not in the ASan pass (Open MPI's own allocations
  # would be reported as leaks; the one-process paths run there)
  set_tests_properties(mpi/${case} PROPERTIES FIXTURES_REQUIRED mpi_exes SKIP_RETURN_CODE 77 TIMEOUT 600
                       RUN_SERIAL ON LABELS "mpi;slow")
endforeach()
