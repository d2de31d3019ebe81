// conformance_test.cpp: the one behaviour suite every model variant passes.
// ctest registers it once per variant:
//   conformance_test --server build/servers/bench_server --model process:fork
// Each test starts its own server on a free port, checks exact bytes, and
// stops it with SIGTERM, checking the exit status, counters and leftovers.
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/client.h"
#include "support/doc_root.h"
#include "support/http_date.h"
#include "support/model_test_main.h"
#include "support/server_process.h"

namespace cb::testing {

ModelUnderTest g_target;

namespace {

const std::string& g_server = g_target.server;
const std::string& g_model = g_target.model;

// The files the HTTP tests fetch.
struct ConformanceRoot : DocRoot {
  ConformanceRoot() : DocRoot("cb-conformance") {
    write("empty.txt", "");
    write("one_kib.bin", make_payload(1024, 1));
    write("one_mib.bin", make_payload(1 << 20, 2));
    write("index.html", "<html>hello</html>\n");
  }
};

class Conformance : public ::testing::Test {
 protected:
  std::unique_ptr<ServerProcess> start(const std::string& proto) {
    ServerOptions o;
    o.binary = g_server;
    o.model = g_model;
    o.proto = proto;
    o.root = proto == "http" ? root_.path() : "";
    return std::make_unique<ServerProcess>(o);
  }

  // SIGTERM: exit 0, every connection accounted for, no child left alive.
  void expect_clean_stop(ServerProcess& server) {
    std::vector<pid_t> kids = server.children();
    EXPECT_EQ(server.stop(), 0) << "server did not exit cleanly on SIGTERM";
    const auto& c = server.final_counters();
    ASSERT_TRUE(c.is_object()) << "no final counters line";
    EXPECT_EQ(c["connections_accepted"], c["connections_closed"]);
    for (pid_t kid : kids) {
      EXPECT_TRUE(eventually([&] { return ::kill(kid, 0) != 0; }))
          << "child " << kid << " outlived the server";
    }
  }

  // Models that serve whole connections with a fixed set of workers hold
  // extra clients in a queue or the backlog until a worker is free.
  bool serves_concurrently() const {
    return g_model != "pool:conn" && g_model != "process:prefork";
  }

  // select(2) cannot hold fds >= FD_SETSIZE (1024), so reactor:select refuses
  // them by design (errors_fd_limit; tested in reactor_limits_test).
  int max_connections() const { return g_model == "reactor:select" ? 1000 : 2000; }

  ConformanceRoot root_;
};

TEST_F(Conformance, EchoesExactBytesOverFiftyConnections) {
  auto server = start("echo");
  for (std::size_t size : {std::size_t{1}, std::size_t{1024}, std::size_t{1} << 20}) {
    EXPECT_EQ(echo_roundtrips_in_parallel(server->port(), size, 50), 50) << "payload size " << size;
  }
  expect_clean_stop(*server);
  EXPECT_EQ(server->final_counters()["bytes_in"], server->final_counters()["bytes_out"]);
  EXPECT_EQ(server->final_counters()["bytes_in"], 50u * (1 + 1024 + (1u << 20)));
}

TEST_F(Conformance, ServesFilesByteExact) {
  auto server = start("http");
  Fd fd = connect_to(server->port());
  const std::pair<std::string, std::size_t> files[] = {
      {"/empty.txt", 0}, {"/one_kib.bin", 1024}, {"/one_mib.bin", std::size_t{1} << 20}};
  for (const auto& [path, size] : files) {
    ASSERT_TRUE(send_all(fd.get(), "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = read_response(fd.get());
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_EQ(r->headers["content-length"], std::to_string(size));
    EXPECT_EQ(r->body.size(), size);
  }
  ASSERT_TRUE(send_all(fd.get(), "GET /one_mib.bin HTTP/1.1\r\n\r\n"));
  auto big = read_response(fd.get());
  ASSERT_TRUE(big);
  EXPECT_TRUE(big->body == make_payload(1 << 20, 2)) << "1 MiB body differs";
  ASSERT_TRUE(send_all(fd.get(), "HEAD /one_kib.bin HTTP/1.1\r\n\r\n"));
  auto head = read_response(fd.get(), /*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], "1024");
  fd.reset();
  expect_clean_stop(*server);
}

TEST_F(Conformance, MissingFileIs404AndTraversalIsRefused) {
  auto server = start("http");
  {
    // A 404 answers a well-formed request: the connection stays open (as
    // nginx's does) until the client asks to close.
    Fd fd = connect_to(server->port());
    ASSERT_TRUE(send_all(fd.get(), "GET /nope.txt HTTP/1.1\r\n\r\n"));
    auto r = read_response(fd.get());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->headers["connection"], "keep-alive");
    ASSERT_TRUE(send_all(fd.get(), "GET /index.html HTTP/1.1\r\n\r\n"));
    auto next = read_response(fd.get());
    ASSERT_TRUE(next) << "closed after a 404";
    EXPECT_EQ(next->status, 200);
    ASSERT_TRUE(send_all(fd.get(), "GET /nope.txt HTTP/1.1\r\nConnection: close\r\n\r\n"));
    r = read_response(fd.get());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->headers["connection"], "close");
    EXPECT_TRUE(peer_closed(fd.get()));
  }
  for (const char* path : {"/../etc/passwd", "/%2e%2e/etc/passwd", "/%2e%2e%2fetc%2fpasswd"}) {
    Fd fd = connect_to(server->port());
    ASSERT_TRUE(send_all(fd.get(), std::string("GET ") + path + " HTTP/1.1\r\n\r\n"));
    auto r = read_response(fd.get());
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path;
    EXPECT_TRUE(r->body.empty());
    EXPECT_TRUE(peer_closed(fd.get())) << path;
  }
  expect_clean_stop(*server);
  EXPECT_EQ(server->final_counters()["http_4xx"], 5);
}

// The response head byte for byte, its Date masked; the Date itself is an
// IMF-fixdate of the current second or one of the two before (the server
// reads a coarse clock, and a sanitizer build on a busy machine is slow).
TEST_F(Conformance, ResponseHeadIsExactWithTheDateMasked) {
  auto server = start("http");
  Fd fd = connect_to(server->port());
  ASSERT_TRUE(send_all(fd.get(), "GET /index.html HTTP/1.1\r\n\r\n"));
  auto r = read_response(fd.get());
  ASSERT_TRUE(r);
  EXPECT_EQ(mask_date(r->raw_head),
            "HTTP/1.1 200 OK\r\n" CB_MASKED_DATE
            "Content-Type: text/html\r\nContent-Length: 19\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(is_imf_fixdate(r->headers["date"])) << r->headers["date"];
  time_t now = ::time(nullptr);
  auto formatted = [](time_t t) {
    char buf[64];
    struct tm tm {};
    ::gmtime_r(&t, &tm);
    std::size_t n = ::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf, n);
  };
  std::string date = r->headers["date"];
  EXPECT_TRUE(date == formatted(now) || date == formatted(now - 1) || date == formatted(now - 2))
      << date << " at " << formatted(now);
  fd.reset();
  expect_clean_stop(*server);
}

TEST_F(Conformance, AnswersSixteenPipelinedRequestsInOrder) {
  auto server = start("http");
  Fd fd = connect_to(server->port());
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += i % 2 ? "GET /one_kib.bin HTTP/1.1\r\n\r\n"
                                              : "GET /index.html HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(send_all(fd.get(), batch));
  for (int i = 0; i < 16; ++i) {
    auto r = read_response(fd.get());
    ASSERT_TRUE(r) << "response " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.size(), i % 2 ? 1024u : 19u) << "response " << i << " out of order";
  }
  fd.reset();
  expect_clean_stop(*server);
  EXPECT_EQ(server->final_counters()["http_2xx"], 16);
}

TEST_F(Conformance, KeepsAliveForAThousandRequests) {
  auto server = start("http");
  Fd fd = connect_to(server->port());
  int ok = 0;
  for (int i = 0; i < 1000; ++i) {
    if (!send_all(fd.get(), "GET /one_kib.bin HTTP/1.1\r\n\r\n")) break;
    auto r = read_response(fd.get());
    if (!r || r->status != 200 || r->body.size() != 1024) break;
    ++ok;
  }
  EXPECT_EQ(ok, 1000);
  ASSERT_TRUE(send_all(fd.get(), "GET /index.html HTTP/1.1\r\nConnection: close\r\n\r\n"));
  auto last = read_response(fd.get());
  ASSERT_TRUE(last);
  EXPECT_EQ(last->headers["connection"], "close");
  EXPECT_TRUE(peer_closed(fd.get()));
  fd.reset();
  expect_clean_stop(*server);
  EXPECT_EQ(server->final_counters()["requests"], 1001);
}

TEST_F(Conformance, ReturnsEveryDescriptorAfterClientsClose) {
  auto server = start("echo");
  // Let the server finish start-up before taking the baseline.
  ASSERT_TRUE(echo_roundtrip(server->port(), "warm"));
  // The baseline is taken once the server has closed the warm-up
  // connection (and the fork model has reaped its child).
  ASSERT_TRUE(eventually([&] { return server->all_connections_closed(); }));
  if (g_model != "process:prefork") {
    ASSERT_TRUE(eventually([&] { return server->children().empty(); }));
  }
  int baseline = server->open_fds();
  {
    std::vector<Fd> conns;
    for (int i = 0; i < 100; ++i) conns.push_back(connect_to(server->port()));
    for (auto& c : conns) {
      ASSERT_TRUE(send_all(c.get(), "ping"));
      if (serves_concurrently()) {
        EXPECT_EQ(recv_exact(c.get(), 4), "ping");
      }
    }
    for (auto& c : conns) ::shutdown(c.get(), SHUT_WR);
    for (auto& c : conns) recv_until_eof(c.get());
  }
  EXPECT_TRUE(eventually([&] { return server->open_fds() == baseline; }))
      << "fds: " << server->open_fds() << " now, " << baseline << " before";
  expect_clean_stop(*server);
}

// Process- and thread-per-connection must hold 2,000 at once (10,000 in the
// C10K test). pool:conn serves whole connections with a few workers, so its
// clients half-close to let each connection finish in turn.
TEST_F(Conformance, HoldsTwoThousandConnections) {
  const int kConnections = max_connections();
  auto server = start("echo");
  std::vector<Fd> conns;
  conns.reserve(static_cast<std::size_t>(kConnections));
  for (int i = 0; i < kConnections; ++i) conns.push_back(connect_to(server->port()));
  int good = 0;
  for (int i = 0; i < kConnections; ++i) {
    std::string msg = "hello " + std::to_string(i);
    if (!send_all(conns[static_cast<std::size_t>(i)].get(), msg)) continue;
    if (!serves_concurrently()) {
      ::shutdown(conns[static_cast<std::size_t>(i)].get(), SHUT_WR);
      ++good;
      continue;
    }
    if (recv_exact(conns[static_cast<std::size_t>(i)].get(), msg.size()) == msg) ++good;
  }
  EXPECT_EQ(good, kConnections);
  if (!serves_concurrently()) {
    int echoed = 0;
    for (int i = 0; i < kConnections; ++i) {
      if (recv_until_eof(conns[static_cast<std::size_t>(i)].get()) == "hello " + std::to_string(i)) {
        ++echoed;
      }
    }
    EXPECT_EQ(echoed, kConnections);
  }
  conns.clear();
  expect_clean_stop(*server);
  EXPECT_EQ(server->final_counters()["connections_accepted"], kConnections);
}

}  // namespace
}  // namespace cb::testing

int main(int argc, char** argv) {
  return cb::testing::run_model_tests(argc, argv, "conformance_test", &cb::testing::g_target);
}
