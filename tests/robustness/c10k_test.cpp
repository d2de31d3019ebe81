// c10k_test.cpp: one model variant holds 10,000 simultaneous keep-alive
// connections and serves a request on each of them, with zero errors, while
// all of them stay open. It records the server tree's PSS per connection.
//   c10k_test --server build/servers/bench_server --model process:fork
// The limits this needs are set by the project: bench_server listens with a
// backlog of somaxconn, thread stacks are 64 KiB, the test process and the
// server each hold 10,000 descriptors (the machine allows 20,000 each).
#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/client.h"
#include "support/model_test_main.h"
#include "support/server_process.h"

namespace cb::testing {

ModelUnderTest g_target;

namespace {

const std::string& g_server = g_target.server;
const std::string& g_model = g_target.model;
constexpr int kConnections = 10000;

// The server and every descendant.
long tree_pss_kb(ServerProcess& server) {
  long total = std::max(0L, pss_kb(server.pid()));
  for (pid_t kid : server.children()) total += std::max(0L, pss_kb(kid));  // gone: 0
  return total;
}

TEST(C10k, HoldsTenThousandKeepAliveConnectionsAndServesEach) {
  ServerOptions o;
  o.binary = g_server;
  o.model = g_model;
  o.proto = "echo";
  ServerProcess server(o);
  long idle = tree_pss_kb(server);
  std::vector<Fd> conns;
  conns.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) conns.push_back(connect_to(server.port()));
  int served = 0;
  for (int i = 0; i < kConnections; ++i) {
    std::string msg = "request " + std::to_string(i);
    int fd = conns[static_cast<std::size_t>(i)].get();
    if (send_all(fd, msg) && recv_exact(fd, msg.size()) == msg) ++served;
  }
  EXPECT_EQ(served, kConnections);
  auto c = server.live_counters();
  EXPECT_EQ(c["connections_accepted"], kConnections);
  EXPECT_EQ(c["connections_closed"], 0) << "a connection was dropped while held";
  EXPECT_EQ(c["errors_no_fds"], 0);
  long held = tree_pss_kb(server);
  double per_conn = static_cast<double>(held - idle) / kConnections;
  std::printf("c10k %s: PSS idle %ld KiB, with %d connections %ld KiB, %.2f KiB per connection\n",
              g_model.c_str(), idle, kConnections, held, per_conn);
  RecordProperty("pss_per_connection_kb", std::to_string(per_conn));
  conns.clear();
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0);
  EXPECT_EQ(server.final_counters()["connections_closed"], kConnections);
}

}  // namespace
}  // namespace cb::testing

int main(int argc, char** argv) {
  return cb::testing::run_model_tests(argc, argv, "c10k_test", &cb::testing::g_target);
}
