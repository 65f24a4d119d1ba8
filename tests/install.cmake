# install.cmake — the install tests (tests/install/install_tests.sh):
# install/prefix installs this build into a fresh prefix under the build
# tree (the fixture of the others); install/cmake builds samples/c_api
# against it with find_package(nnc) and nnc_add_model, install/make a small
# program with plain Make and pkg-config; install/man and
# install/completion check the man page and the bash completion there.
# install/options (tests/install/check_options.sh) checks that both know
# every option and --emit kind, install/readme (check_readme.sh) that the
# README's examples are the consumers' files. A sanitizer build is not
# installed (its libraries would need the sanitizer runtimes in every
# consumer): there only install/options and install/readme run.
add_test(NAME install/options
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/check_options.sh $<TARGET_FILE:nnc> ${CMAKE_SOURCE_DIR})
add_test(NAME install/readme COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/check_readme.sh ${CMAKE_SOURCE_DIR})
if(NOT NNC_SANITIZE)
  set(INSTALL_WORK ${CMAKE_CURRENT_BINARY_DIR}/install_work)
  set(INSTALL_SH ${CMAKE_CURRENT_SOURCE_DIR}/install/install_tests.sh)
  foreach(case prefix cmake make man completion)
    add_test(NAME install/${case} COMMAND bash ${INSTALL_SH} ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR} ${INSTALL_WORK} ${case})
    if(case STREQUAL prefix)
      set_tests_properties(install/prefix PROPERTIES FIXTURES_SETUP install_prefix)
    else()
      set_tests_properties(install/${case} PROPERTIES FIXTURES_REQUIRED install_prefix SKIP_RETURN_CODE 77 TIMEOUT 300)
    endif()
  endforeach()
endif()
