// model_test_main.h: the shared main() of the whole-server test binaries
// (conformance, robustness, slowloris, C10K). Each runs one model variant:
//   NAME --server PATH --model MODEL:VARIANT [gtest flags]
// A variant the kernel lacks (bench_server --supported exits 77) makes the
// binary exit 77, which ctest reports as a skip.
#pragma once

#include <string>

namespace cb::testing {

struct ModelUnderTest {
  std::string server;  // path to bench_server
  std::string model;   // e.g. "reactor:epoll"
};

// Parses the arguments, checks support, runs every test. `target` is filled
// before the tests run.
int run_model_tests(int argc, char** argv, const char* name, ModelUnderTest* target);

}  // namespace cb::testing
