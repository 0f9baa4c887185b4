# Turns each Lua script in LUA_DIR into a C string macro
# (LUA_<NAME>) in OUT, so the scripts live as readable .lua files and are
# embedded in the binary at build time.
set(out "/* Generated from the .lua files of common/scripts/ by cmake/embed_lua.cmake. */\n")
file(GLOB files ${LUA_DIR}/*.lua)
foreach(f ${files})
  get_filename_component(name ${f} NAME_WE)
  string(TOUPPER ${name} up)
  file(READ ${f} body)
  string(REPLACE "\\" "\\\\" body "${body}")
  string(REPLACE "\"" "\\\"" body "${body}")
  string(REPLACE "\n" "\\n\" \\\n    \"" body "${body}")
  string(APPEND out "#define LUA_${up} \\\n    \"${body}\"\n\n")
endforeach()
file(WRITE ${OUT}.tmp "${out}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
