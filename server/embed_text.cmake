# cmake -DIN=file -DOUT=file.c -P embed_text.cmake: IN's bytes as the
# NUL-terminated C string srv_openapi_json.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from server/openapi.json. */\n"
                  "extern const char srv_openapi_json[];\n"
                  "const char srv_openapi_json[] = {${bytes}0};\n")
