# check_model_lists.cmake: fails when tests/CMakeLists.txt's model lists
# drift from the registry. Those lists must be static (ctest registers one
# test per variant at configure time, before bench_server exists), so this
# test compares them with what the built server says:
#
#   cmake -DSERVER=bench_server -DVARIANTS=a:x,b:y -DDEFAULTS=a:x -P check_model_lists.cmake
#
# VARIANTS must be every registry entry in registry order; DEFAULTS every
# entry whose "default" is true, in the same order.
cmake_minimum_required(VERSION 3.25)

foreach(var SERVER VARIANTS DEFAULTS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_model_lists.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${SERVER} --list-models --json
                OUTPUT_VARIABLE json RESULT_VARIABLE status ERROR_VARIABLE err)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${SERVER} --list-models --json failed (${status}): ${err}")
endif()

string(JSON count LENGTH "${json}")
set(registry_all "")
set(registry_defaults "")
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  string(JSON name GET "${json}" ${i} name)
  string(JSON variant GET "${json}" ${i} variant)
  string(JSON is_default GET "${json}" ${i} default)
  list(APPEND registry_all "${name}:${variant}")
  if(is_default)
    list(APPEND registry_defaults "${name}:${variant}")
  endif()
endforeach()

string(REPLACE "," ";" static_all "${VARIANTS}")
string(REPLACE "," ";" static_defaults "${DEFAULTS}")
set(failed FALSE)
if(NOT static_all STREQUAL registry_all)
  message(SEND_ERROR "CB_MODEL_VARIANTS in tests/CMakeLists.txt is\n  ${static_all}\n"
                     "but bench_server --list-models --json lists\n  ${registry_all}")
  set(failed TRUE)
endif()
if(NOT static_defaults STREQUAL registry_defaults)
  message(SEND_ERROR "CB_MODEL_DEFAULTS in tests/CMakeLists.txt is\n  ${static_defaults}\n"
                     "but the registry's defaults are\n  ${registry_defaults}")
  set(failed TRUE)
endif()
if(NOT failed)
  message(STATUS "model lists match the registry: ${registry_all}")
endif()
