// backend_control.h: the bench_backend of one run (servers/backend/README.md).
//
// Runs whose workload makes backend calls need the delay service up before
// bench_server starts (the server is told its address) and down after the
// server stopped (so no call of the server meets a closed service). start()
// forks it in its own process group, pinned to the given CPUs (the client
// CPUs by default: it is part of the world the server talks to, not the
// server), killed if the harness dies, its output into memory files; reads
// its "listening HOST:PORT backend pid=PID" line with the one parser of
// that line (listening_line.h), then proves it answers one frame.
//
// stop() sends SIGTERM (the service exits 0 and prints `counters {...}`),
// SIGKILLs the group after the grace period, and parses the counters line.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.h"

namespace cb::harness {

struct BackendSpec {
  std::string binary;     // bench_backend
  std::vector<int> cpus;  // empty: not pinned
  std::chrono::milliseconds startup_timeout{10'000};
  std::chrono::milliseconds stop_grace{5'000};
};

// The JSON of the last "counters {...}" line of a process's output (both
// bench_server and bench_backend print one at exit); nullopt if none parses.
std::optional<nlohmann::json> find_counters_line(const std::string& output);

class BackendControl {
 public:
  explicit BackendControl(BackendSpec spec);
  ~BackendControl();  // stops the service if still running
  BackendControl(const BackendControl&) = delete;
  BackendControl& operator=(const BackendControl&) = delete;

  // Starts it and sends one probe frame; nullopt on success, else the
  // reason ("backend: ..."). The service is stopped on failure.
  std::optional<std::string> start();

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }
  // "127.0.0.1:PORT", for bench_server --backend.
  std::string address() const;

  // Non-blocking: has it exited on its own? If so, how ("backend: exited...").
  std::optional<std::string> check_exited();

  // SIGTERM, grace, SIGKILL, reap. nullopt if it exited with status 0.
  std::optional<std::string> stop();

  // Its final counters (after stop()), nullopt if it printed none.
  const std::optional<nlohmann::json>& counters() const { return counters_; }
  // Frames the harness itself sent (the probe): not the server's calls.
  static constexpr uint64_t kProbeFrames = 1;

  std::string output() const;

 private:
  std::optional<std::string> wait_listening();
  std::optional<std::string> probe();

  BackendSpec spec_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_status_ = 0;
  uint16_t port_ = 0;
  std::string host_;
  Fd out_;
  Fd err_;
  std::optional<nlohmann::json> counters_;
};

}  // namespace cb::harness
