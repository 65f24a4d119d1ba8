# embed_text.cmake — compile a text file into nnc:
#   cmake -DIN=FILE -DOUT=FILE.c -DNAME=SYMBOL -P embed_text.cmake
# writes `const char SYMBOL[] = {...bytes..., 0};` (a NUL-terminated string).
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n  " bytes "${bytes}")
file(WRITE ${OUT} "/* generated from ${IN} by embed_text.cmake */\nconst char ${NAME}[] = {\n  ${bytes}0};\n")
