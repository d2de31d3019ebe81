// server_control.h: one bench_server under the harness's control.
//
// start() forks; the child puts itself in its own process group, pins
// itself to the server CPUs (sched_setaffinity, inherited by every thread
// and process the server creates), disables core dumps, asks to be killed
// if the harness dies (PR_SET_PDEATHSIG), sends stdout and stderr to memory
// files the harness reads (a chatty server can never block on a full pipe)
// and execs the server. start() then waits for the "listening HOST:PORT"
// line and proves the server serves with one probe request.
//
// stop() sends SIGTERM, waits a grace period, then SIGKILLs the whole
// process group, reaps the server and anything of its group that was
// re-parented to the harness (the harness is a child subreaper, see
// become_subreaper()), so no run leaves a process behind.
//
// Outcomes that are not the harness's fault (the server would not start,
// died, hung) are returned as failure strings, never thrown.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/counters.h"
#include "common/fd.h"

namespace cb::harness {

struct ServerSpec {
  std::string binary;  // bench_server
  std::string host = "127.0.0.1";  // the address it listens on (--listen)
  std::string model;   // "reactor:epoll"
  std::string proto;   // "echo" | "http"
  std::string root;    // docroot, http only
  std::string stats_file;  // "" (peers): no counters block
  // Non-empty: the whole command line instead of bench_server's (a peer's
  // launcher, peers.h); everything else about the start and stop is the same.
  std::vector<std::string> command;
  std::vector<int> cpus;  // empty: not pinned
  std::vector<std::string> extra_args;
  std::string probe_path = "/";  // http: a file that exists
  int cgroup_procs_fd = -1;      // >= 0: the server joins this memory cgroup (memory_cgroup.h)
  std::chrono::milliseconds startup_timeout{10'000};
  std::chrono::milliseconds stop_grace{5'000};
};

// Makes orphaned descendants of our children ours to reap (prctl
// PR_SET_CHILD_SUBREAPER); call once at startup. Returns false if refused.
bool become_subreaper();

// How a process ended, in words: "exited with status 1", "killed by SIGABRT".
std::string describe_wait_status(int status);

class ServerControl {
 public:
  explicit ServerControl(ServerSpec spec);
  ~ServerControl();  // stops the server if still running
  ServerControl(const ServerControl&) = delete;
  ServerControl& operator=(const ServerControl&) = delete;

  // Starts and probes; nullopt on success, else the reason it failed
  // ("startup: ..."). The server is stopped on failure.
  std::optional<std::string> start();

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }
  const CounterBlock* counters() const;  // live counters; null before start

  // Non-blocking: has the server exited on its own? If so, how
  // ("crash: killed by SIGSEGV"). Safe to call from another thread.
  std::optional<std::string> check_exited();

  // Waits until the server has closed every connection it accepted (the
  // probe's) and reaped its children, at most `limit`. True if it settled.
  // A server without counters (a peer) is given a fixed moment instead.
  bool wait_idle(std::chrono::milliseconds limit);

  // SIGTERM, grace, SIGKILL, reap. nullopt if it exited cleanly (status 0),
  // else why not ("hang: ..." / "crash: ..." / "exit: ...").
  std::optional<std::string> stop();

  // wait4's resource usage of the server, valid once it was reaped: the
  // kernel's own totals of every thread, and of the children it waited for.
  const rusage& final_rusage() const { return rusage_; }

  // The server's stdout+stderr so far (for failure messages).
  std::string output() const;
  // The last non-empty line of stderr, "" if none.
  std::string last_error_line() const;

 private:
  std::optional<std::string> wait_listening();
  std::optional<std::string> probe();
  void kill_group_and_reap();

  ServerSpec spec_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_status_ = 0;  // wait status, valid once reaped_
  rusage rusage_{};
  uint16_t port_ = 0;
  std::string host_;
  Fd out_;  // memfd: stdout
  Fd err_;  // memfd: stderr
  std::unique_ptr<CounterReader> counters_;
  mutable std::mutex wait_mu_;  // waitpid may be called from the monitor thread
};

}  // namespace cb::harness
