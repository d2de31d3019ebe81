// backend_process.h: runs bench_backend (the delay service the /app
// handler calls) as a child process for tests: on port 0, reading its
// "listening" line, stopped with SIGTERM, keeping what it printed (its final
// counters among it). Shared by the backend's own tests and the per-model
// service tests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/fd.h"

namespace cb::testing {

class BackendProcess {
 public:
  explicit BackendProcess(const std::string& binary);  // throws if it does not start
  ~BackendProcess();
  BackendProcess(const BackendProcess&) = delete;
  BackendProcess& operator=(const BackendProcess&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

  // SIGTERM, then waits (SIGKILL after 30 s). Exit status, or 128 + signal,
  // or -1 if it had to be killed.
  int stop();
  // The final "counters {...}" line as JSON (null if absent).
  nlohmann::json counters() const;

 private:
  [[noreturn]] static void exec_child(const std::string& binary, int out_fd);
  void read_line();
  void read_rest();

  pid_t pid_ = -1;
  Fd out_;
  uint16_t port_ = 0;
  std::string output_;
};

}  // namespace cb::testing
