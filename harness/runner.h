// runner.h: one run of one cell, start to finish:
//
//   start bench_server pinned to the server CPUs, probe it, let it settle,
//   sample its idle PSS; run the load (the caller's thread is already
//   pinned to the client CPUs, and the load threads inherit that); a
//   monitor thread meanwhile watches the server for a crash, samples the
//   server tree through the measured window and draws the progress line;
//   stop the server (SIGTERM, grace, SIGKILL), reap it; fill a RunRecord.
//
// A disk workload first finds (or makes) its data set and evicts it from
// the page cache, and serves from it; a cell with a memory limit runs the
// server in a memory cgroup of its own (memory_cgroup.h), removed after.
//
// The server figures (CPU, context switches) are taken between a sample at
// the start of the measured window and one just before its end, timed so
// that it finishes before the load generator closes any connection (a
// thread or process exiting after the window must not be counted, nor
// lost mid-sample). They are scaled from that sub-window to the window's
// length; per-request figures divide the server's rate by the load
// generator's request rate.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "matrix.h"
#include "progress.h"
#include "remote_load.h"
#include "results.h"

namespace cb::harness {

struct RunSettings {
  std::string server_binary;
  std::string backend_binary;      // bench_backend, for workloads that make calls
  std::vector<int> backend_cpus;   // where it runs (the client CPUs by default)
  std::vector<int> server_cpus;
  std::vector<int> client_cpus;    // for the steal figures (noise.h)
  int loadgen_threads = 1;
  double connect_rate_per_s = 0;  // 0: every connection at once
  std::chrono::nanoseconds duration{std::chrono::seconds(5)};
  std::chrono::nanoseconds warmup{std::chrono::seconds(1)};
  // The server's address (--listen); the load targets it.
  std::string listen = "127.0.0.1";
  // --client-hosts: the load runs on these hosts' agents (remote_load.h)
  // instead of in the harness.
  std::optional<RemoteSettings> remote;
  std::string docroot;      // http files (workspace.h); always holds the probe file
  std::string scratch_dir;  // where the counter files go
  std::string state_dir;    // where peers' --state-dir folders go (one per run)
  std::string peers_dir;    // servers/peers: a peer's launcher is peers_dir/NAME/serve
  std::string peers_bin_dir;  // the launchers' --bin-dir (compiled peers)
  std::string dataset_dir;  // disk workloads: where their data sets live (dataset.h)
  std::string cgroup_parent;  // memory limits: the parent cgroup ("" = the harness's own)
  std::chrono::milliseconds stop_grace{5'000};
  std::chrono::milliseconds sample_every{200};
  // The time series' interval (loadgen --interval): the load generator's
  // per-interval counts, and the CPU points of noise.h about as often.
  std::chrono::milliseconds interval{250};
};

struct RunOutput {
  RunRecord record;
  std::string hgrm;  // empty when there is no histogram
  // A peer's configuration files from its state dir: name -> text.
  std::vector<std::pair<std::string, std::string>> peer_configs;
  std::string agents_json;  // runs with client hosts: RunRecord::agents_file's text
};

// The file every HTTP server start is probed with (HEAD): /app workloads
// have no file of their own, and the probe must not call the backend.
inline constexpr uint64_t kProbeFileBytes = 1024;

RunOutput run_cell(const Cell& cell, int repetition, const RunSettings& settings, Progress& progress);

// Source addresses for `connections` to one server port: none while half
// the ephemeral port range suffices, else 127.0.0.2, 127.0.0.3, ...
std::vector<std::string> source_ips_for(int connections);

}  // namespace cb::harness
