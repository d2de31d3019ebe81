// app_test.cpp: the service handler (GET /app, protocol/app.h) against one
// model variant, registered once per variant like the conformance suite:
//   app_test --server build/servers/bench_server --model fiber:hub
// Each model makes its backend calls its own way (blocking, parked fiber,
// the reactor's pipelined continuation); every one must give the same
// bytes, make exactly the calls asked, and survive a backend that goes away:
//  - many connections, each pipelining /app requests with calls, a file, and
//    CPU-only /app requests: exact bodies in order, and the backend saw
//    exactly the calls (its own counters and the server's agree);
//  - no --backend: calls are a 503 and counted, CPU-only requests still work;
//  - the backend stopped mid-run: the next call is a counted 502, and the
//    server keeps serving files.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/backend_process.h"
#include "support/client.h"
#include "support/doc_root.h"
#include "support/model_test_main.h"
#include "support/server_process.h"

namespace cb::testing {

ModelUnderTest g_target;

namespace {

const std::string& g_server = g_target.server;
const std::string& g_model = g_target.model;

struct AppRoot : DocRoot {
  AppRoot() : DocRoot("cb-app") { write("index.html", "<html>ok</html>\n"); }
};

// The body /app?bytes=n sends: byte i is 'a' + i % 26.
std::string app_body(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

class App : public ::testing::Test {
 protected:
  std::unique_ptr<ServerProcess> start(uint16_t backend_port) {
    ServerOptions o;
    o.binary = g_server;
    o.model = g_model;
    o.proto = "http";
    o.root = root_.path();
    if (backend_port != 0) {
      o.extra_args = {"--backend", "127.0.0.1:" + std::to_string(backend_port),
                      // Fewer backend connections than clients: the pools
                      // must make requests wait their turn, not fail.
                      "--backend-conns", "4"};
    }
    return std::make_unique<ServerProcess>(o);
  }

  static void expect_ok(int fd, const std::string& body, const std::string& what) {
    auto r = read_response(fd);
    ASSERT_TRUE(r.has_value()) << what << ": no response";
    EXPECT_EQ(r->status, 200) << what;
    EXPECT_EQ(r->body, body) << what;
  }

  AppRoot root_;
};

TEST_F(App, CallsGiveExactBytesAndTheBackendSeesExactlyThem) {
  BackendProcess backend(CB_BACKEND_PATH);
  auto server = start(backend.port());
  constexpr int kClients = 12, kRounds = 3;
  // Per round: an /app with 2 calls, a file, a CPU-only /app, an /app with
  // one call and no body: 3 calls, pipelined in one write.
  const std::string round =
      "GET /app?calls=2&delay_us=2000&bytes=100 HTTP/1.1\r\n\r\n"
      "GET /index.html HTTP/1.1\r\n\r\n"
      "GET /app?cpu_us=200&bytes=7 HTTP/1.1\r\n\r\n"
      "GET /app?calls=1&delay_us=0 HTTP/1.1\r\n\r\n";
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      Fd fd = connect_to(server->port());
      for (int k = 0; k < kRounds; ++k) {
        ASSERT_TRUE(send_all(fd.get(), round));
        std::string who = "client " + std::to_string(i) + " round " + std::to_string(k);
        expect_ok(fd.get(), app_body(100), who + " /app calls=2");
        expect_ok(fd.get(), "<html>ok</html>\n", who + " /index.html");
        expect_ok(fd.get(), app_body(7), who + " /app cpu_us");
        expect_ok(fd.get(), "", who + " /app calls=1");
      }
    });
  }
  for (auto& t : clients) t.join();
  ASSERT_EQ(server->stop(), 0);
  ASSERT_EQ(backend.stop(), 0);
  const auto& c = server->final_counters();
  uint64_t calls = uint64_t{kClients} * kRounds * 3;
  EXPECT_EQ(c["backend_calls"], calls);
  EXPECT_EQ(c["app_requests"], uint64_t{kClients} * kRounds * 3);
  EXPECT_EQ(backend.counters()["requests"], calls) << "the backend saw other calls than asked";
  EXPECT_EQ(backend.counters()["replies"], calls);
  EXPECT_EQ(c["backend_errors_io"], 0u);
  EXPECT_EQ(c["backend_errors_reply"], 0u);
  EXPECT_EQ(c["backend_errors_connect"], 0u);
}

TEST_F(App, WithoutABackendCallsAre503AndCounted) {
  auto server = start(0);
  {
    Fd fd = connect_to(server->port());
    ASSERT_TRUE(send_all(fd.get(), "GET /app?cpu_us=50&bytes=3 HTTP/1.1\r\n\r\n"));
    expect_ok(fd.get(), "abc", "CPU-only /app");
    ASSERT_TRUE(send_all(fd.get(), "GET /app?calls=1 HTTP/1.1\r\n\r\n"));
    auto r = read_response(fd.get());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 503);
    EXPECT_TRUE(peer_closed(fd.get())) << "a 503 closes the connection";
  }
  {
    Fd fd = connect_to(server->port());
    ASSERT_TRUE(send_all(fd.get(), "GET /app?calls=1&bogus=2 HTTP/1.1\r\n\r\n"));
    auto r = read_response(fd.get());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400) << "an unknown parameter is a bad request";
  }
  ASSERT_EQ(server->stop(), 0);
  EXPECT_EQ(server->final_counters()["backend_unconfigured"], 1u);
  EXPECT_EQ(server->final_counters()["http_5xx"], 1u);
}

TEST_F(App, ABackendThatGoesAwayIsA502AndFilesAreStillServed) {
  auto backend = std::make_unique<BackendProcess>(CB_BACKEND_PATH);
  auto server = start(backend->port());
  {
    Fd fd = connect_to(server->port());
    ASSERT_TRUE(send_all(fd.get(), "GET /app?calls=1&bytes=2 HTTP/1.1\r\n\r\n"));
    expect_ok(fd.get(), "ab", "call before the backend stops");
  }
  ASSERT_EQ(backend->stop(), 0);
  backend.reset();
  {
    Fd fd = connect_to(server->port());
    ASSERT_TRUE(send_all(fd.get(), "GET /app?calls=1 HTTP/1.1\r\n\r\n"));
    auto r = read_response(fd.get());
    ASSERT_TRUE(r.has_value()) << "no answer once the backend is gone";
    EXPECT_EQ(r->status, 502);
  }
  Fd fd = connect_to(server->port());
  ASSERT_TRUE(send_all(fd.get(), "GET /index.html HTTP/1.1\r\n\r\n"));
  expect_ok(fd.get(), "<html>ok</html>\n", "a file after the backend went away");
  fd.reset();
  ASSERT_EQ(server->stop(), 0);
  const auto& c = server->final_counters();
  uint64_t errors = c["backend_errors_io"].get<uint64_t>() +
                    c["backend_errors_connect"].get<uint64_t>() +
                    c["backend_errors_reply"].get<uint64_t>();
  EXPECT_GE(errors, 1u) << "the failed call was not counted";
  EXPECT_EQ(c["backend_calls"], 1u);
}


// Issue 17, case 5: the bounds of back-pressure hold for /app too. One
// client pipelines a 64 KiB burst of /app requests (a backend call and a
// 64 KiB body each) and reads nothing. Its connection works one request at
// a time (so it holds at most one backend connection or call), stops once
// its output is full, and so makes a bounded number of calls and holds
// bounded memory; meanwhile other clients' calls are served through the
// same 4 backend connections. When it reads at last, every body arrives,
// in order.
TEST_F(App, APipelinerThatDoesNotReadHoldsBoundedCallsAndMemory) {
  BackendProcess backend(CB_BACKEND_PATH);
  auto server = start(backend.port());
  constexpr std::size_t kBody = 64 * 1024;
  const std::string one = "GET /app?calls=1&delay_us=1000&bytes=65536 HTTP/1.1\r\n\r\n";
  std::string burst;
  while (burst.size() + one.size() <= 64 * 1024) burst += one;
  const std::size_t n = burst.size() / one.size();
  long pss_before = server->tree_pss_kb();

  Fd greedy = connect_to(server->port());
  ASSERT_TRUE(send_all(greedy.get(), burst));
  // Others get their calls answered meanwhile (4 at once, as many as the
  // server has backend connections).
  std::vector<std::thread> others;
  for (int i = 0; i < 4; ++i) {
    others.emplace_back([&, i] {
      Fd fd = connect_to(server->port());
      ASSERT_TRUE(send_all(fd.get(), "GET /app?calls=1&delay_us=1000&bytes=5 HTTP/1.1\r\n\r\n"));
      expect_ok(fd.get(), "abcde", "other client " + std::to_string(i));
    });
  }
  for (auto& t : others) t.join();

  // Let the greedy connection run until its output limit stops it.
  uint64_t calls = 0;
  for (int still = 0, round = 0; still < 10 && round < 300; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    uint64_t now = server->live_counters()["backend_calls"].get<uint64_t>();
    still = now == calls ? still + 1 : 0;
    calls = now;
  }
  long pss_grew = server->tree_pss_kb() - pss_before;
  std::printf("app burst %s: %zu pipelined /app requests, %llu backend calls made before the "
              "client read; server grew by %ld KiB PSS\n",
              g_model.c_str(), n, static_cast<unsigned long long>(calls), pss_grew);
  EXPECT_LT(calls, n + 4) << "every pipelined /app request was worked before any was read";
#if !defined(CB_ASAN) && !defined(CB_TSAN)
  // Unbounded, the responses alone would be n x 64 KiB (about 75 MiB).
  EXPECT_LE(pss_grew, 16 * 1024) << "KiB of PSS for one connection";
#endif
  for (std::size_t i = 0; i < n; ++i) {
    auto r = read_response(greedy.get());
    ASSERT_TRUE(r) << "response " << i << " of " << n << " missing";
    ASSERT_EQ(r->status, 200) << "response " << i;
    ASSERT_EQ(r->body.size(), kBody) << "response " << i;
    ASSERT_TRUE(r->body == app_body(kBody)) << "response " << i;
  }
  greedy.reset();
  ASSERT_EQ(server->stop(), 0);
  ASSERT_EQ(backend.stop(), 0);
  EXPECT_EQ(server->final_counters()["backend_calls"], n + 4);
  EXPECT_EQ(server->final_counters()["backend_errors_io"], 0u);
}

}  // namespace
}  // namespace cb::testing

int main(int argc, char** argv) {
  return cb::testing::run_model_tests(argc, argv, "app_test", &cb::testing::g_target);
}
