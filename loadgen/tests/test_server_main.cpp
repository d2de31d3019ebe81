// test_server_main.cpp: the test server as its own process, for tests that
// need more descriptors than one process may hold (10,000 connections on
// each side). Usage: loadgen_test_server echo|http
// Prints the port it listens on (127.0.0.1) and serves until stdin closes.
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "test_server.h"

int main(int argc, char** argv) {
  using cb::loadgen::testing::TestServerOptions;
  TestServerOptions options;
  if (argc > 1 && std::strcmp(argv[1], "http") == 0) options.mode = TestServerOptions::Mode::kHttp;
  try {
    cb::loadgen::testing::TestServer server(options);
    std::printf("%u\n", static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    char c;
    while (::read(0, &c, 1) > 0) {
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen_test_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
