// model_test_main.cpp: see model_test_main.h.
#include "support/model_test_main.h"

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

#include <gtest/gtest.h>

namespace cb::testing {

int run_model_tests(int argc, char** argv, const char* name, ModelUnderTest* target) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i + 1 < argc; ++i) {
    std::string a = argv[i];
    if (a == "--server") target->server = argv[i + 1];
    if (a == "--model") target->model = argv[i + 1];
  }
  if (target->server.empty() || target->model.empty()) {
    std::fprintf(stderr, "usage: %s --server PATH --model NAME:VARIANT\n", name);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  std::string check = target->server + " --supported --model " + target->model;
  int status = std::system(check.c_str());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) return 77;
  return RUN_ALL_TESTS();
}

}  // namespace cb::testing
