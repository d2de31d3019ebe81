// c10k_test.cpp: 10,000 connections held open at once by one load thread
// against the project's reactor (bench_server --model reactor, in its own
// process: each side needs 10,000 descriptors), every one established and
// used, with no error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "common/fd.h"
#include "listening_line.h"
#include "loadgen/load.h"

extern char** environ;

namespace cb::loadgen {
namespace {

using namespace std::chrono_literals;

// bench_server in its own process; it prints "listening HOST:PORT ..." once
// it accepts, and exits on SIGTERM.
class ServerProcess {
 public:
  ServerProcess() {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    Fd out_read(out[0]), out_write(out[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
    const char* argv[] = {CB_BENCH_SERVER, "--model", "reactor", "--proto",
                          "echo",          "--port",  "0",       nullptr};
    if (posix_spawn(&pid_, CB_BENCH_SERVER, &actions, nullptr, const_cast<char* const*>(argv),
                    environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    out_write.reset();
    std::string line;
    char c;
    while (line.size() < 200 && ::read(out_read.get(), &c, 1) == 1 && c != '\n') line += c;
    if (auto parsed = listening::parse(line)) port_ = parsed->port;
  }
  ~ServerProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(50ms);
    }
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

TEST(C10k, TenThousandConnectionsHeldAndUsed) {
  constexpr int kConnections = 10000;
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur < kConnections + 100)
    GTEST_SKIP() << "open-file limit " << lim.rlim_cur << " < 10100";
  ServerProcess server;
  ASSERT_NE(server.port(), 0) << "bench_server --model reactor did not start";

  LoadConfig c;
  c.port = server.port();
  c.proto = Proto::kEcho;
  c.msg_size = 32;
  c.connections = kConnections;
  c.connect_rate_per_s = 20000;  // a 0.5 s ramp, gentle on the accept queue
  c.rate_per_s = 10000;          // one request per connection per second
  c.warmup = 500ms;
  c.duration = 2s;
  LoadControl control;
  uint64_t most_open = 0;
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      most_open = std::max(most_open, control.progress().connections_open);
      std::this_thread::sleep_for(20ms);
    }
  });
  LoadResult r = run_load(c, &control);
  done = true;
  watcher.join();
  EXPECT_EQ(r.counters.connections_opened, static_cast<uint64_t>(kConnections));
  EXPECT_EQ(most_open, static_cast<uint64_t>(kConnections));
  EXPECT_EQ(r.counters.error_total(), 0u);
  EXPECT_GT(r.counters.requests, static_cast<uint64_t>(kConnections));  // ~2 per connection
  EXPECT_EQ(r.counters.bytes_read, r.counters.requests * 32);
}

}  // namespace
}  // namespace cb::loadgen
