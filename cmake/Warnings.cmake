# One interface target carries the warning flags; every project target links it.
# CMAKE_CXX_FLAGS is never touched, so users' own flags pass through.
add_library(cb_warnings INTERFACE)
target_compile_options(cb_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
  -Wformat=2 -Wnon-virtual-dtor)
