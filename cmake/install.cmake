# install.cmake — what `cmake --install build --prefix P` puts under P
# besides bin/nnc and lib/nnc/libnnrt.a (compiler/ and runtime/ install
# those):
#   share/doc/nnc/          README.md and docs/ (but nnc.1)
#   share/man/man1/nnc.1    the man page (docs/nnc.1)
#   share/bash-completion/completions/nnc   (completions/nnc.bash)
#   lib/cmake/nnc/          nncConfig.cmake, nncConfigVersion.cmake:
#                           find_package(nnc), nnc_add_model, nnc::runtime
#   lib/pkgconfig/nnc.pc    pkg-config: the nnc variable, the runtime archive
# Every file finds the others relative to itself, so a prefix can move.
include(CMakePackageConfigHelpers)

install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} PATTERN nnc.1 EXCLUDE)
install(FILES ${CMAKE_SOURCE_DIR}/docs/nnc.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/completions/nnc.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME nnc)

set(NNC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/nnc)
set(NNC_RUNTIME_DIR ${CMAKE_INSTALL_LIBDIR}/nnc)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/nncConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/nncConfig.cmake INSTALL_DESTINATION ${NNC_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_BINDIR NNC_RUNTIME_DIR)
# 0.x: a minor version may change the generated API, so it must match
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/nncConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/nncConfig.cmake ${CMAKE_BINARY_DIR}/cmake/nncConfigVersion.cmake
        DESTINATION ${NNC_CMAKE_DIR})

# nnc.pc names its prefix relative to its own directory (${pcfiledir})
file(RELATIVE_PATH NNC_PC_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" NNC_PC_PREFIX "${NNC_PC_PREFIX}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/nnc.pc.in ${CMAKE_BINARY_DIR}/cmake/nnc.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cmake/nnc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
