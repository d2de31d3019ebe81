// c10k_test.cpp: fiber:hub holds 10,000 concurrent echo connections on one
// thread: every client sends its own message and gets exactly that back
// while all 10,000 are open; then SIGTERM with all of them still open must
// wake every parked fiber, close every connection and exit 0.
#include <sys/socket.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/client.h"
#include "support/server_process.h"

namespace cb::testing {
namespace {

// TSan tracks every fiber as a thread with trace mappings of its own:
// 10,000 of them exceed the map count of a process, so TSan builds hold 2,000.
#if defined(CB_TSAN)
constexpr int kConnections = 2'000;
#else
constexpr int kConnections = 10'000;
#endif

std::string message(int i) { return "conn " + std::to_string(i) + " says hi"; }

TEST(FiberHub, EchoesOnTenThousandConcurrentConnections) {
  ServerOptions o;
  o.binary = CB_BENCH_SERVER;
  o.model = "fiber:hub";
  ServerProcess server(o);
  std::vector<Fd> conns;
  conns.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) conns.push_back(connect_to(server.port()));
  int sent = 0;
  for (int i = 0; i < kConnections; ++i) {
    if (send_all(conns[static_cast<std::size_t>(i)].get(), message(i))) ++sent;
  }
  ASSERT_EQ(sent, kConnections);
  int echoed = 0;
  for (int i = 0; i < kConnections; ++i) {
    std::string want = message(i);
    if (recv_exact(conns[static_cast<std::size_t>(i)].get(), want.size()) == want) ++echoed;
  }
  EXPECT_EQ(echoed, kConnections);
  EXPECT_EQ(server.threads(), 1) << "fiber:hub must serve everything on one thread";

  // Stop with every connection still open: each parked fiber must end.
  EXPECT_EQ(server.stop(), 0);
  const auto& c = server.final_counters();
  ASSERT_TRUE(c.is_object());
  EXPECT_EQ(c["connections_accepted"], kConnections);
  EXPECT_EQ(c["connections_closed"], kConnections);
  EXPECT_EQ(c["requests"], kConnections);
  int closed = 0;
  for (Fd& fd : conns) closed += peer_closed(fd.get()) ? 1 : 0;
  EXPECT_EQ(closed, kConnections);
}

}  // namespace
}  // namespace cb::testing
