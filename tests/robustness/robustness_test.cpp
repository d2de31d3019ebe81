// robustness_test.cpp: bad input and faults, against one model variant
// (registered once per variant, like the conformance suite):
//   robustness_test --server build/servers/bench_server --model reactor:epoll
//  - malformed HTTP, table-driven: the right status, the connection closed,
//    the server still serving;
//  - a client that resets mid-response (SO_LINGER 0 during a large file):
//    counted, cleaned up, no descriptor leaked;
//  - EMFILE under a low RLIMIT_NOFILE: existing connections keep working,
//    new ones are refused or deferred, the server does not spin, and it
//    refuses at most one queued client per rest per accepting loop.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/client.h"
#include "support/doc_root.h"
#include "support/model_test_main.h"
#include "support/server_process.h"

namespace cb::testing {

ModelUnderTest g_target;

namespace {

const std::string& g_server = g_target.server;
const std::string& g_model = g_target.model;

struct RobustnessRoot : DocRoot {
  RobustnessRoot() : DocRoot("cb-robust") {
    write("index.html", "<html>ok</html>\n");
    write("big.bin", make_payload(32u << 20, 9));
  }
};

struct BadRequest {
  const char* name;
  std::string bytes;
  int status;
};

std::vector<BadRequest> bad_requests() {
  std::string long_target = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n";
  std::string long_header = "GET /index.html HTTP/1.1\r\nX-Big: " + std::string(9000, 'b') +
                            "\r\n\r\n";
  using namespace std::string_literals;
  return {
      {"bad method token", "G@T /index.html HTTP/1.1\r\n\r\n", 400},
      {"unsupported method", "DELETE /index.html HTTP/1.1\r\n\r\n", 405},
      {"POST", "POST /index.html HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405},
      {"missing version", "GET /index.html\r\n\r\n", 400},
      {"garbage version", "GET /index.html FTP/1.1\r\n\r\n", 400},
      {"unsupported version", "GET /index.html HTTP/2.0\r\n\r\n", 505},
      {"header without colon", "GET /index.html HTTP/1.1\r\nNoColonHere\r\n\r\n", 400},
      {"folded header", "GET /index.html HTTP/1.1\r\nX-A: one\r\n  two\r\n\r\n", 400},
      {"transfer-encoding", "GET /index.html HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"request body", "GET /index.html HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400},
      {"oversized request line", long_target, 414},
      {"oversized head", long_header, 431},
      {"NUL in target", "GET /index\0.html HTTP/1.1\r\n\r\n"s, 400},
      {"NUL escape", "GET /index%00.html HTTP/1.1\r\n\r\n", 400},
      {"invalid escape", "GET /%zzindex.html HTTP/1.1\r\n\r\n", 400},
      {"truncated escape", "GET /index.html%4 HTTP/1.1\r\n\r\n", 400},
      {"dot-dot", "GET /../etc/passwd HTTP/1.1\r\n\r\n", 400},
      {"encoded dot-dot", "GET /%2e%2e/etc/passwd HTTP/1.1\r\n\r\n", 400},
      {"upper-case encoded dot-dot", "GET /%2E%2E/etc/passwd HTTP/1.1\r\n\r\n", 400},
      {"mixed dot-dot", "GET /.%2e/etc/passwd HTTP/1.1\r\n\r\n", 400},
      {"encoded slashes", "GET /..%2f..%2fetc%2fpasswd HTTP/1.1\r\n\r\n", 400},
      {"deep dot-dot", "GET /a/b/../../../etc/passwd HTTP/1.1\r\n\r\n", 400},
      {"double-encoded dot-dot (a literal name)", "GET /%252e%252e/etc/passwd HTTP/1.1\r\n\r\n",
       404},
      {"absolute-form escape", "GET http://x/../etc/passwd HTTP/1.1\r\n\r\n", 400},
      {"absolute path outside", "GET /etc/passwd HTTP/1.1\r\n\r\n", 404},
  };
}

class Robustness : public ::testing::Test {
 protected:
  std::unique_ptr<ServerProcess> start(const std::string& proto, int nofile = 0) {
    ServerOptions o;
    o.binary = g_server;
    o.model = g_model;
    o.proto = proto;
    o.root = proto == "http" ? root_.path() : "";
    o.rlimit_nofile = nofile;
    return std::make_unique<ServerProcess>(o);
  }

  static bool serves_index(uint16_t port) {
    Fd fd = connect_to(port);
    if (!send_all(fd.get(), "GET /index.html HTTP/1.1\r\nConnection: close\r\n\r\n")) return false;
    auto r = read_response(fd.get());
    return r && r->status == 200 && r->body == "<html>ok</html>\n";
  }

  RobustnessRoot root_;
};

TEST_F(Robustness, MalformedRequestsGetTheirStatusAndAClose) {
  auto server = start("http");
  int answered = 0;
  for (const BadRequest& bad : bad_requests()) {
    Fd fd = connect_to(server->port());
    ASSERT_TRUE(send_all(fd.get(), bad.bytes)) << bad.name;
    auto r = read_response(fd.get());
    ASSERT_TRUE(r) << bad.name << ": no response";
    EXPECT_EQ(r->status, bad.status) << bad.name;
    EXPECT_EQ(r->headers["connection"], "close") << bad.name;
    EXPECT_TRUE(r->body.empty()) << bad.name;
    EXPECT_TRUE(peer_closed(fd.get())) << bad.name << ": connection left open";
    ++answered;
  }
  EXPECT_TRUE(serves_index(server->port())) << "server stopped serving after bad input";
  EXPECT_EQ(server->stop(), 0);
  EXPECT_EQ(server->final_counters()["http_4xx"].get<int>() +
                server->final_counters()["http_5xx"].get<int>(),
            answered);
}

TEST_F(Robustness, ClientResetMidResponseIsCountedAndCleanedUp) {
  auto server = start("http");
  ASSERT_TRUE(serves_index(server->port()));
  ASSERT_TRUE(eventually([&] { return server->all_connections_closed(); }));
  int baseline = server->open_fds();
  constexpr int kResets = 5;
  for (int i = 0; i < kResets; ++i) {
    Fd fd = connect_to(server->port());
    ASSERT_TRUE(send_all(fd.get(), "GET /big.bin HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(recv_exact(fd.get(), 64 * 1024));  // the response is under way
    linger lg{1, 0};  // close with RST instead of FIN
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  // Sanitizer builds run several times slower: 15 s is patience, not a
  // threshold (a leak never comes back).
  constexpr std::chrono::seconds kPatience{15};
  EXPECT_TRUE(eventually([&] { return server->all_connections_closed(); }, kPatience))
      << "a reset connection was never closed";
  EXPECT_TRUE(eventually([&] { return server->open_fds() == baseline; }, kPatience))
      << server->open_fds() << " fds, " << baseline << " before";
  EXPECT_TRUE(serves_index(server->port()));
  auto c = server->live_counters();
  EXPECT_EQ(c["errors_reset"].get<int>() + c["errors_write"].get<int>(), kResets);
  EXPECT_EQ(server->stop(), 0);
}

// The load generator dies mid-run (SIGKILL, so its 50 connections vanish
// with whatever was in flight); the server must close all of them and serve
// the next client as if nothing happened.
TEST_F(Robustness, LoadGeneratorKilledMidRunLeavesTheServerHealthy) {
  auto server = start("http");
  std::string target = "http://127.0.0.1:" + std::to_string(server->port()) + "/index.html";
  pid_t load = ::fork();
  if (load == 0) {
    int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, STDOUT_FILENO);
    ::execl(CB_LOADGEN_PATH, CB_LOADGEN_PATH, "-c", "50", "-d", "30s", target.c_str(), nullptr);
    ::_exit(127);
  }
  ASSERT_GT(load, 0);
  // Kill it once it is in full swing (fixed-worker models accept only as
  // many connections as they have workers; the rest wait in the backlog).
  bool busy = eventually([&] { return server->live_counters()["requests"].get<int>() >= 1000; });
  ::kill(load, SIGKILL);
  ::waitpid(load, nullptr, 0);
  ASSERT_TRUE(busy) << "the load generator never got going";
  EXPECT_TRUE(eventually([&] { return server->all_connections_closed(); }))
      << "connections of the killed client were never closed";
  EXPECT_TRUE(serves_index(server->port()));
  EXPECT_EQ(server->stop(), 0);
}

// CPU seconds (user + sys) of a process and its reaped children.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 17 && fields >> f; ++i) {
    if (i >= 14) ticks += std::stod(f);  // utime stime cutime cstime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// How many loops accept at once in this model: each may refuse one client
// per rest (session/acceptor.h).
int accept_loops(const std::string& model) {
  int cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (model == "process:prefork") return 4 * cpus;  // every worker accepts
  if (model.ends_with(":multi")) return cpus;
  return 1;
}

TEST_F(Robustness, OutOfDescriptorsRefusesWithoutSpinning) {
  // 64 descriptors: a few for the server itself, the rest for connections.
  auto server = start("echo", /*nofile=*/64);
  // Fewer than the pool and prefork workers, so every model serves them all.
  std::vector<Fd> first;
  for (int i = 0; i < 5; ++i) {
    first.push_back(connect_to(server->port()));
    ASSERT_TRUE(send_all(first.back().get(), "x"));
    ASSERT_EQ(recv_exact(first.back().get(), 1), "x");
  }
  // More clients than the server has descriptors left: they queue in the
  // backlog, and the server must refuse them one per rest, not all at once.
  auto window_start = std::chrono::steady_clock::now();
  uint64_t refused_before = server->live_counters()["errors_no_fds"];
  std::vector<Fd> flood;
  for (int i = 0; i < 300; ++i) flood.push_back(connect_to(server->port()));
  for (auto& fd : flood) send_all(fd.get(), "y");
  double before = cpu_seconds(server->pid());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  double used = cpu_seconds(server->pid()) - before;
  uint64_t refused = server->live_counters()["errors_no_fds"].get<uint64_t>() - refused_before;
  auto window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - window_start).count();
  // A spinning accept loop burns the whole second; refusing costs little.
  EXPECT_LT(used, 0.5) << "server spun on EMFILE";
  // At most one refusal per 10 ms rest per accepting loop (+2 for the edges
  // of the window). A loop that refuses the whole backlog at once breaks it.
  uint64_t bound = static_cast<uint64_t>(accept_loops(g_model) * (window_ms / 10 + 2));
  // A process model keeps each connection's descriptor in its own process:
  // the parent, holding only the listener, never runs out.
  if (!g_model.starts_with("process")) {
    EXPECT_GT(refused, 0u) << "nothing was refused: the test did not reach EMFILE";
  }
  EXPECT_LE(refused, bound) << "refused " << refused << " clients in " << window_ms
                            << " ms: the accept loop does not rest after a refusal";
  for (auto& fd : first) {
    ASSERT_TRUE(send_all(fd.get(), "still here"));
    EXPECT_EQ(recv_exact(fd.get(), 10), "still here") << "an existing connection broke";
  }
  flood.clear();
  first.clear();
  // The server frees the flood's descriptors as it notices the closes; until
  // then a new client may still be refused, so it tries again.
  EXPECT_TRUE(eventually([&] {
    Fd after = connect_to(server->port());
    return send_all(after.get(), "again") && recv_exact(after.get(), 5) == "again";
  })) << "server does not accept after the flood";
  EXPECT_EQ(server->stop(), 0);
}

}  // namespace
}  // namespace cb::testing

int main(int argc, char** argv) {
  return cb::testing::run_model_tests(argc, argv, "robustness_test", &cb::testing::g_target);
}
