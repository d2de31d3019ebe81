# Every dependency is an installed Debian package; nothing is fetched at build
# time. A missing package stops configure with the exact apt-get line.
function(cb_require found package_name)
  if(NOT ${found})
    message(FATAL_ERROR
      "Missing dependency. Install it with:\n  apt-get update && apt-get install -y ${package_name}\n"
      "(or run ./run_all.sh as root, which installs every missing package)")
  endif()
endfunction()

find_package(Threads REQUIRED)

find_package(fmt QUIET)
cb_require(fmt_FOUND libfmt-dev)

find_package(nlohmann_json QUIET)
cb_require(nlohmann_json_FOUND nlohmann-json3-dev)

find_package(CLI11 QUIET)
cb_require(CLI11_FOUND libcli11-dev)

find_package(GTest QUIET)
cb_require(GTest_FOUND libgtest-dev)

find_package(benchmark QUIET)
cb_require(benchmark_FOUND libbenchmark-dev)

find_package(Boost 1.74 QUIET COMPONENTS context)
cb_require(Boost_FOUND libboost-context-dev)

find_path(URING_INCLUDE_DIR liburing.h)
find_library(URING_LIBRARY uring)
if(URING_INCLUDE_DIR AND URING_LIBRARY)
  set(URING_FOUND TRUE)
endif()
cb_require(URING_FOUND liburing-dev)
add_library(cb_uring INTERFACE)
target_include_directories(cb_uring INTERFACE ${URING_INCLUDE_DIR})
target_link_libraries(cb_uring INTERFACE ${URING_LIBRARY})

# The plot tests and scripts run with Debian's interpreter, which has matplotlib.
set(CB_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with matplotlib (Debian's)")
