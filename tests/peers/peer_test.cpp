// peer_test.cpp: the conformance subset every peer (servers/peers/) passes,
// through its `serve` launcher, exactly as the harness starts it. ctest
// registers it once per peers.json row (tests/peers/CMakeLists.txt):
//   peer_test --peers-dir servers/peers --bin-dir build/servers/peers --peer go
// and once with --registry (every row well formed). For each protocol the
// peer lists: `serve --check` (a failure skips with its reason, unless the
// peer's packages are installed), a start on --port 0 with a fresh state
// dir, the listening line, echo byte-exact or
// HTTP byte-exact with keep-alive, 404 keeping the connection, HEAD,
// pipelining and Connection: close, then SIGTERM: exit 0 within 5 s and no
// process of its group left.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/client.h"
#include "support/doc_root.h"
#include "support/http_date.h"
#include "support/server_process.h"

namespace cb::testing {
namespace {

struct Options {
  std::string peers_dir;  // servers/peers in the source tree
  std::string bin_dir;    // build/servers/peers (peer_go, peer_asio)
  std::string peer;       // empty with --registry
};
Options g_opt;

nlohmann::json load_registry() {
  std::ifstream in(g_opt.peers_dir + "/peers.json");
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

std::string launcher(const std::string& name) { return g_opt.peers_dir + "/" + name + "/serve"; }

bool is_executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

struct Outcome {
  int status = -1;     // exit status; -1 if it did not exit in time
  std::string output;  // stdout and stderr together
};

// Runs a command to its end (at most 20 s; then it is killed).
Outcome run_command(std::vector<std::string> args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  Outcome r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    r.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  return r;
}

int count_lines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n + (!text.empty() && text.back() != '\n');
}

const std::set<std::string> kProtocols = {"echo", "http"};

// A row's shape (README.md, "peers.json"); an empty string when it is right.
std::string row_problem(const nlohmann::json& row) {
  if (!row.is_object()) return "not an object";
  for (const char* key : {"name", "summary", "notes"}) {
    if (!row.contains(key) || !row[key].is_string() || row[key].get<std::string>().empty()) {
      return std::string(key) + " must be a non-empty string";
    }
  }
  if (!row.contains("twin") || !(row["twin"].is_null() || row["twin"].is_string())) {
    return "twin must be a model name or null";
  }
  if (!row.contains("protocols") || !row["protocols"].is_array() || row["protocols"].empty()) {
    return "protocols must be a non-empty array";
  }
  std::set<std::string> seen;
  for (const auto& p : row["protocols"]) {
    if (!p.is_string() || !kProtocols.count(p.get<std::string>())) return "unknown protocol " + p.dump();
    if (!seen.insert(p.get<std::string>()).second) return "protocol listed twice: " + p.dump();
  }
  for (const char* key : {"needs", "package"}) {
    if (!row.contains(key) || !row[key].is_array()) return std::string(key) + " must be an array";
    for (const auto& v : row[key]) {
      if (!v.is_string() || v.get<std::string>().empty()) return std::string(key) + " holds a non-string";
    }
  }
  return "";
}

// The launcher's command-line contract: a bad argument is one line and exit
// 2; --check of a protocol the peer does not serve is one line and exit 1;
// --version is one line.
void expect_launcher_contract(const nlohmann::json& row) {
  const std::string name = row["name"];
  const std::string serve = launcher(name);
  ASSERT_TRUE(is_executable(serve)) << serve << " is not an executable file";
  const std::vector<std::vector<std::string>> bad = {
      {serve, "--no-such-option"},
      {serve, "--proto", "gopher", "--port", "0", "--state-dir", "/tmp"},
      {serve, "--proto", "echo", "--port", "70000", "--state-dir", "/tmp"},
      {serve, "--proto", "echo", "--port", "0", "--workers", "0", "--state-dir", "/tmp"},
      {serve, "--proto"},
  };
  for (const auto& args : bad) {
    Outcome r = run_command(args);
    EXPECT_EQ(r.status, 2) << name << " " << args[1] << ": " << r.output;
    EXPECT_EQ(count_lines(r.output), 1) << name << " " << args[1] << " printed: " << r.output;
  }
  std::set<std::string> served;
  for (const auto& p : row["protocols"]) served.insert(p.get<std::string>());
  for (const std::string& proto : kProtocols) {
    if (served.count(proto)) continue;
    Outcome r = run_command({serve, "--check", "--proto", proto});
    EXPECT_EQ(r.status, 1) << name << " --check --proto " << proto << ": " << r.output;
    EXPECT_EQ(count_lines(r.output), 1) << r.output;
  }  // --version: the runtime's version, one line and 0; or, where the
  // runtime is missing, one line and 1.
  Outcome v = run_command({serve, "--version", "--bin-dir", g_opt.bin_dir});
  EXPECT_TRUE(v.status == 0 || v.status == 1) << name << " --version: status " << v.status;
  EXPECT_EQ(count_lines(v.output), 1) << name << " --version printed: " << v.output;
}

TEST(Registry, EveryRowIsWellFormed) {
  nlohmann::json rows = load_registry();
  ASSERT_TRUE(rows.is_array()) << g_opt.peers_dir << "/peers.json is not a JSON array";
  const std::set<std::string> expected = {"nginx",    "apache-event",   "apache-worker",
                                          "apache-prefork", "go",       "node",
                                          "eventlet", "python-threads", "python-fork", "asio"};
  std::set<std::string> names;
  for (const auto& row : rows) {
    std::string problem = row_problem(row);
    EXPECT_EQ(problem, "") << row.dump();
    if (!problem.empty()) continue;
    EXPECT_TRUE(names.insert(row["name"].get<std::string>()).second) << "twice: " << row["name"];
  }
  EXPECT_EQ(names, expected);
}

class Peer : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& row : load_registry()) {
      if (row.is_object() && row.value("name", "") == g_opt.peer) row_ = row;
    }
    ASSERT_TRUE(row_.is_object()) << "peer " << g_opt.peer << " is not in peers.json";
    ASSERT_EQ(row_problem(row_), "");
  }

  bool serves(const std::string& proto) const {
    for (const auto& p : row_["protocols"]) {
      if (p == proto) return true;
    }
    return false;
  }

  // `serve --check`: empty when the peer can run `proto` here, else its line.
  std::string check(const std::string& proto) {
    Outcome r = run_command({launcher(g_opt.peer), "--check", "--proto", proto, "--bin-dir", g_opt.bin_dir});
    if (r.status == 0 && r.output.empty()) return "";
    EXPECT_TRUE(r.status == 1 && count_lines(r.output) == 1)
        << "serve --check must print nothing and exit 0, or one line and exit 1; got status "
        << r.status << ": " << r.output;
    std::string why = r.output.empty() ? "serve --check failed" : r.output;
    // A skip is for a machine without the peer's runtime: with every one
    // of its Debian packages installed (as in CI), a failing check is the
    // peer's fault (say, go installed but peer_go not built).
    EXPECT_FALSE(packages_installed()) << "peer:" << g_opt.peer << " has its packages installed ("
                                       << row_["package"].dump() << ") but " << why;
    return why;
  }

  // True when dpkg says every package of the row is installed (false where
  // there is no dpkg).
  bool packages_installed() const {
    if (!is_executable("/usr/bin/dpkg-query")) return false;
    for (const auto& package : row_["package"]) {
      Outcome r = run_command({"/usr/bin/dpkg-query", "-W", "-f=${Status}", package.get<std::string>()});
      if (r.status != 0 || r.output != "install ok installed") return false;
    }
    return true;
  }

  std::unique_ptr<ServerProcess> start(const std::string& proto) {
    ServerOptions o;
    o.command = {launcher(g_opt.peer), "--proto",   proto,  "--host",      "127.0.0.1",
                 "--port",             "0",         "--root", root_.path(), "--workers",
                 "2",                  "--state-dir", state_.path() + "/" + proto,
                 "--bin-dir",          g_opt.bin_dir};
    // Generous: interpreters (eventlet's imports) and Apache prefork's 1,024
    // processes start slowly while the rest of the suite loads the machine.
    o.startup_timeout = std::chrono::seconds(60);
    auto server = std::make_unique<ServerProcess>(o);
    const auto& line = server->listening_line();
    EXPECT_EQ(line.model, "peer:" + g_opt.peer);
    EXPECT_EQ(line.proto, proto);
    EXPECT_EQ(line.host, "127.0.0.1");
    EXPECT_GT(line.pid, 0) << "no pid= in the listening line";
    // The pid it names is the server, in the group the launcher started in.
    EXPECT_EQ(::getpgid(static_cast<pid_t>(line.pid)), server->pid())
        << "pid " << line.pid << " is not a live process of the launcher's group";
    return server;
  }

  // SIGTERM: exit status 0 within 20 s (Apache prefork stops 1,024
  // processes; on a loaded machine that took over 5 s), and nothing of its
  // group left.
  void expect_clean_stop(ServerProcess& server) {
    EXPECT_EQ(server.stop(std::chrono::milliseconds(20000)), 0)
        << "peer:" << g_opt.peer << " did not exit with status 0 within 20 s of SIGTERM";
    EXPECT_EQ(server.group_leftovers(), 0) << "processes of its group outlived it";
  }

  nlohmann::json row_;
  DocRoot root_{"cb-peer-root"};
  DocRoot state_{"cb-peer-state"};
};

TEST_F(Peer, LauncherFollowsTheContract) { expect_launcher_contract(row_); }

TEST_F(Peer, EchoesExactBytes) {
  if (!serves("echo")) return;  // an http-only peer (its --check says so: LauncherFollowsTheContract)
  if (std::string why = check("echo"); !why.empty()) GTEST_SKIP() << why;
  auto server = start("echo");
  // A connection left open through the stop: the peer must end it too.
  Fd held = connect_to(server->port());
  ASSERT_TRUE(send_all(held.get(), "held") && recv_exact(held.get(), 4) == "held");
  for (std::size_t size : {std::size_t{1}, std::size_t{1024}, std::size_t{64} << 10, std::size_t{1} << 20}) {
    EXPECT_EQ(echo_roundtrips_in_parallel(server->port(), size, 8), 8) << "payload size " << size;
  }
  // Many messages on one connection, each echoed before the next is sent.
  Fd fd = connect_to(server->port());
  int echoed = 0;
  for (int i = 0; i < 200; ++i) {
    std::string msg = "message " + std::to_string(i);
    if (send_all(fd.get(), msg) && recv_exact(fd.get(), msg.size()) == msg) ++echoed;
  }
  EXPECT_EQ(echoed, 200);
  expect_clean_stop(*server);
}

// A 200 with the file's exact bytes, its length, and a Date header.
void expect_file(const std::optional<HttpResponse>& r, const std::string& body, const std::string& what) {
  ASSERT_TRUE(r) << what << ": no response";
  EXPECT_EQ(r->status, 200) << what;
  EXPECT_EQ(r->headers.count("content-length") ? r->headers.at("content-length") : "",
            std::to_string(body.size()))
      << what;
  EXPECT_TRUE(r->body == body) << what << ": body differs (" << r->body.size() << " bytes)";
  // RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::string date = r->headers.count("date") ? r->headers.at("date") : "";
  EXPECT_TRUE(is_imf_fixdate(date)) << what << ": Date '" << date << "'";
}

std::optional<HttpResponse> get_on(int fd, const std::string& path, const std::string& extra = "") {
  if (!send_all(fd, "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n")) return std::nullopt;
  return read_response(fd);
}

TEST_F(Peer, ServesFilesByteExact) {
  if (!serves("http")) return;  // an echo-only peer (its --check says so: LauncherFollowsTheContract)
  if (std::string why = check("http"); !why.empty()) GTEST_SKIP() << why;
  const std::string one_byte = "x", one_kib = make_payload(1024, 1), one_mib = make_payload(1 << 20, 2);
  root_.write("one_byte.txt", one_byte);
  root_.write("one_kib.bin", one_kib);
  root_.write("one_mib.bin", one_mib);
  auto server = start("http");
  Fd fd = connect_to(server->port());
  auto get = [&](const std::string& path, const std::string& extra = "") {
    return get_on(fd.get(), path, extra);
  };
  // Keep-alive: every request on the one connection.
  expect_file(get("/one_byte.txt"), one_byte, "1 B");
  expect_file(get("/one_kib.bin"), one_kib, "1 KiB");
  expect_file(get("/one_mib.bin"), one_mib, "1 MiB");
  // A 404 leaves the connection open for the next request.
  auto missing = get("/no_such_file.bin");
  ASSERT_TRUE(missing) << "no 404 response";
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(missing->headers.count("content-length")) << missing->raw_head;
  expect_file(get("/one_kib.bin"), one_kib, "after the 404");
  // HEAD: the length, no body (the next response must start right after).
  ASSERT_TRUE(send_all(fd.get(), "HEAD /one_mib.bin HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = read_response(fd.get(), /*head_request=*/true);
  ASSERT_TRUE(head) << "no HEAD response";
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], std::to_string(one_mib.size()));
  expect_file(get("/one_byte.txt"), one_byte, "after HEAD");
  // Sixteen pipelined requests, answered in order.
  std::string batch;
  for (int i = 0; i < 16; ++i) {
    batch += std::string("GET ") + (i % 2 ? "/one_kib.bin" : "/one_byte.txt") + " HTTP/1.1\r\nHost: t\r\n\r\n";
  }
  ASSERT_TRUE(send_all(fd.get(), batch));
  for (int i = 0; i < 16; ++i) {
    expect_file(read_response(fd.get()), i % 2 ? one_kib : one_byte, "pipelined " + std::to_string(i));
  }
  // Connection: close is honoured: the answer, then the server closes.
  expect_file(get("/one_kib.bin", "Connection: close\r\n"), one_kib, "Connection: close");
  EXPECT_TRUE(peer_closed(fd.get())) << "the connection stayed open after Connection: close";
  fd.reset();
  // Several connections at once, each with its own keep-alive requests.
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      Fd conn = connect_to(server->port());
      int ok = 0;
      for (int i = 0; i < 20; ++i) {
        if (!send_all(conn.get(), "GET /one_kib.bin HTTP/1.1\r\nHost: t\r\n\r\n")) break;
        auto r = read_response(conn.get());
        if (r && r->status == 200 && r->body == one_kib) ++ok;
      }
      if (ok == 20) ++good;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good.load(), 8);
  // A keep-alive connection left open through the stop: the peer ends it too.
  Fd held = connect_to(server->port());
  expect_file(get_on(held.get(), "/one_byte.txt"), one_byte, "held");
  expect_clean_stop(*server);
}

}  // namespace
}  // namespace cb::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  using cb::testing::g_opt;
  bool registry = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string* into = arg == "--peers-dir" ? &g_opt.peers_dir
                        : arg == "--bin-dir" ? &g_opt.bin_dir
                        : arg == "--peer"    ? &g_opt.peer
                                             : nullptr;
    if (arg == "--registry") {
      registry = true;
    } else if (into != nullptr && i + 1 < argc) {
      *into = argv[++i];
    } else {
      std::fprintf(stderr, "peer_test: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (g_opt.peers_dir.empty() || (registry == !g_opt.peer.empty())) {
    std::fprintf(stderr,
                 "usage: peer_test --peers-dir DIR [--bin-dir DIR] (--registry | --peer NAME)\n");
    return 2;
  }
  std::string& filter = ::testing::GTEST_FLAG(filter);
  if (filter == "*") filter = registry ? "Registry.*" : "Peer.*";  // unless --gtest_filter chose
  int status = RUN_ALL_TESTS();
  // ctest reports a skip on this line (SKIP_REGULAR_EXPRESSION), printed
  // only when nothing failed, so a skip never hides a failure.
  if (status == 0 && ::testing::UnitTest::GetInstance()->skipped_test_count() > 0) {
    std::printf("PEER SKIPPED: peer:%s cannot run here (reason above)\n", g_opt.peer.c_str());
  }
  return status;
}
