// server_process.h: runs bench_server as a child process for tests: picks a
// free port (--port 0), reads the "listening" line, and stops it with
// SIGTERM, collecting its exit status and final counters. Shared by the
// conformance, robustness, fiber and load-generator tests. It also runs a
// peer's `serve` launcher (ServerOptions::command): the same start and
// stop, in a process group of its own whose leftovers stop() reports.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "listening_line.h"

namespace cb::testing {

struct ServerOptions {
  std::string binary;  // path to bench_server
  std::string model = "reactor";
  std::string proto = "echo";
  std::string root;  // for http
  std::vector<std::string> extra_args;
  int rlimit_nofile = 0;  // > 0: lower RLIMIT_NOFILE in the child first
  // Not empty: run this command line as it is instead of bench_server (a
  // peer's launcher, which prints the same listening line): no stats file,
  // and the child leads a new process group, killed whole when it stops.
  std::vector<std::string> command;
  // How long to wait for the listening line (an interpreter's start on a
  // loaded machine, e.g. eventlet's imports, can take longer than 10 s).
  std::chrono::seconds startup_timeout{10};
};

class ServerProcess {
 public:
  explicit ServerProcess(const ServerOptions& options);  // throws if it does not start
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  // The parsed listening line (model, proto and the server's own pid).
  const listening::Line& listening_line() const { return line_; }
  // What it printed on stdout (complete after stop()).
  const std::string& output() const { return output_; }
  bool running();

  // SIGTERM, then wait up to `limit`; SIGKILL if it is still there. In a
  // sanitizer build the wait may stretch to 6 x `limit`, in 2 s steps, but
  // only while the server shows progress (connections closed or CPU used in
  // the step) and says so on stderr: slow is tolerated, hung is not.
  // Returns the exit status (WEXITSTATUS) or 128+signal, -1 if killed by us.
  // With a command (own process group), what is left of the group 3 s after
  // the leader exits is counted (group_leftovers()) and then killed.
  int stop(std::chrono::milliseconds limit = std::chrono::milliseconds(10000));
  int group_leftovers() const { return group_leftovers_; }

  // Final counters printed at exit (valid after stop()).
  const nlohmann::json& final_counters() const { return counters_; }
  // The running server's counters, read from its --stats-file.
  nlohmann::json live_counters() const;
  // True once every accepted connection has been closed by the server.
  bool all_connections_closed() const;

  // Open descriptors of the server process right now.
  int open_fds() const;
  // Direct children and threads right now.
  std::vector<pid_t> children() const;
  int threads() const;
  // The server and its direct children together (a process per connection
  // keeps the connection's memory and descriptors in the child): PSS in KiB
  // and open descriptors, right now.
  long tree_pss_kb() const;
  int tree_open_fds() const;

 private:
  void read_output_until_exit();
  void end_group();

  pid_t pid_ = -1;
  pid_t group_ = -1;  // > 0: the child's own process group (command mode)
  int group_leftovers_ = 0;
  uint16_t port_ = 0;
  listening::Line line_;
  int out_fd_ = -1;
  std::string output_;
  std::string stats_path_;
  nlohmann::json counters_;
};

// PSS of one process in KiB, from /proc/PID/smaps_rollup; -1 if unreadable.
long pss_kb(pid_t pid);

// Waits until pred() holds, polling every 10 ms, at most `limit`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(5000));

}  // namespace cb::testing

#include <thread>

template <class Pred>
bool cb::testing::eventually(Pred pred, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}
