# install.cmake — install/options (tests/install/check_options.sh): the man
# page docs/nnc.1 and the bash completion completions/nnc.bash know every
# option and --emit kind.
add_test(NAME install/options
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/check_options.sh $<TARGET_FILE:nnc> ${CMAKE_SOURCE_DIR})
