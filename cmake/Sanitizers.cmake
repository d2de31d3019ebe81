# CB_SANITIZE=address builds ASan together with UBSan (they combine cleanly);
# thread builds TSan. Applied to every target through link options and flags
# added to the directory, never by overwriting CMAKE_CXX_FLAGS.
if(CB_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(CB_ASAN=1)
elseif(CB_SANITIZE STREQUAL "undefined")
  add_compile_options(-fsanitize=undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=undefined)
elseif(CB_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(CB_TSAN=1)
elseif(NOT CB_SANITIZE STREQUAL "")
  message(FATAL_ERROR "CB_SANITIZE must be address, undefined or thread (got '${CB_SANITIZE}')")
endif()
