# editors.cmake — the editor support (editors/): the Vim syntax file and the
# TextMate grammar highlight exactly the compiler's keywords, builtins,
# initializers and train names, the JSON parses, and vim (when installed)
# loads the syntax file and colours a model (tests/editors/check_editors.py).
find_program(NNC_PYTHON3 python3)
if(NNC_PYTHON3)
  add_test(NAME editors COMMAND ${NNC_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/editors/check_editors.py ${CMAKE_SOURCE_DIR})
endif()
