// results.h: the results folder (results/README.md is the schema):
// results/<UTC stamp>/results.json, runs/<id>.hgrm and the results/latest
// symlink. results.json is rewritten after every run, to a temporary file
// that is then renamed over the old one, so whoever reads it (or a harness
// killed half-way) always finds complete JSON of the runs finished so far.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix.h"

namespace cb::harness {

inline constexpr int kSchemaVersion = 1;

// The server counters each run records (server_counters in results.json):
// the /app and backend ones, and how file GETs left the loop (the offloading
// models and reactor:uring).
inline constexpr const char* kServerAppCounters[] = {
    "app_requests",         "backend_calls",        "backend_errors_connect", "backend_errors_io",
    "backend_errors_reply", "backend_unconfigured", "backend_wait_us",        "offload_jobs",
    "offload_resident_hits", "offload_queue_full",  "uring_file_reads"};

struct LatencySummary {
  double mean_us = 0, stdev_us = 0, min_us = 0;
  double p50_us = 0, p75_us = 0, p90_us = 0, p99_us = 0, p99_9_us = 0, p99_99_us = 0;
  double max_us = 0;
};

// One run; every field that was not measured stays empty and becomes null.
struct RunRecord {
  Cell cell;
  int repetition = 0;
  bool ok = true;
  std::optional<std::string> failure_reason;
  std::vector<std::string> warnings;

  std::optional<double> duration_s;
  std::optional<uint64_t> requests;
  std::optional<uint64_t> requests_unanswered_through_window;  // starved: see loadgen
  std::optional<double> requests_per_s;
  std::optional<double> mb_per_s;
  // What each response carried, as the load generator parsed it: its head
  // (status line, headers, empty line; http only) and its body. Two servers
  // in one cell did the same work only if these match.
  std::optional<double> response_header_bytes_per_request;
  std::optional<double> response_body_bytes_per_request;
  std::optional<LatencySummary> latency;
  std::optional<LatencySummary> latency_uncorrected;
  std::optional<std::vector<std::pair<std::string, uint64_t>>> errors;  // class -> count

  struct Server {
    std::optional<double> cpu_user_s, cpu_sys_s, cpu_us_per_request;
    std::optional<uint64_t> voluntary_cs, involuntary_cs;
    std::optional<double> cs_per_request;
    std::optional<uint64_t> pss_idle_kb, pss_peak_kb;
    std::optional<double> pss_per_connection_kb;
    std::optional<int64_t> threads_peak, processes_peak;
  } server;

  // The server's own /app and backend counters, from the `counters {...}`
  // line it prints at exit: totals of its whole life (probe, connect ramp,
  // warm-up and window), by the names of servers/common/counters.h.
  std::vector<std::pair<std::string, std::optional<uint64_t>>> server_counters;

  // bench_backend of a run whose workload makes calls (all null otherwise).
  struct Backend {
    std::optional<uint64_t> requests, replies, errors;  // its life, the harness's probe frame excluded
    std::optional<double> cpu_s;                         // CPU in the window
  } backend;

  // A disk workload's data set and what the run read from the device (all
  // null for other workloads).
  struct Disk {
    std::optional<std::string> dataset;  // its folder under --dataset-dir
    std::optional<uint64_t> dataset_files, dataset_bytes;
    std::optional<double> zipf_alpha;
    std::optional<double> mean_file_bytes;          // the mean body under that popularity
    std::optional<double> dataset_to_memory_ratio;  // dataset_bytes / the server's memory limit
    std::optional<std::string> eviction;            // how the page cache was emptied before the run
    std::optional<double> eviction_s;
    std::optional<double> resident_after_eviction_ratio;  // mincore over a sample, just after
    std::optional<uint64_t> read_bytes;                   // server tree, window (/proc/PID/io)
    std::optional<double> read_bytes_per_request;
    std::optional<double> page_cache_hit_ratio;  // 1 - read / (requests x mean body), in 0..1
    std::optional<uint64_t> read_bytes_server_life;  // wait4's ru_inblock x 512: the whole tree, whole life
  } disk;

  // The server's memory cgroup, when the cell has a limit (all null else).
  struct MemoryLimit {
    std::optional<int> cgroup_version;
    std::optional<uint64_t> limit_bytes, peak_bytes, cache_bytes_at_end, limit_hits;
  } memory_cgroup;

  // From the load generator's JSON when it has them (results.fairness,
  // results.classes), as it writes them.
  std::optional<nlohmann::ordered_json> fairness;
  std::optional<nlohmann::ordered_json> classes;

  struct Loadgen {
    std::optional<double> cpu_user_s, cpu_sys_s, cpu_utilization;
    std::optional<bool> saturated;
  } loadgen;

  std::optional<std::string> hgrm_file;
  // A peer's generated configuration files, saved beside the histogram
  // (paths relative to the results folder); null for bench_server models.
  std::optional<std::vector<std::string>> peer_config_files;

  // runs/<id>.agents.json of a run with client hosts: each agent's whole
  // result document and the merged histograms (exact buckets).
  std::optional<std::string> agents_file;

  // One load agent of a run driven from client hosts (remote_load.h); empty
  // when the load ran in the harness.
  struct Agent {
    std::string host;  // as given to the transport
    int connections = 0;
    double rate_per_s = 0;  // its share of the rate (0: closed loop)
    std::optional<std::string> version;  // its loadgen's build
    std::optional<double> clock_offset_ms, rtt_ms, start_late_ms;
    std::optional<uint64_t> requests, errors_total;
    std::optional<double> requests_per_s;
    std::optional<double> cpu_user_s, cpu_sys_s, cpu_utilization;
    std::optional<bool> saturated;
    std::optional<std::string> failure_reason;
  };
  std::vector<Agent> agents;

  // The load generator's results.timeseries with the CPU figures of each
  // interval (noise.h); null when the run has none.
  std::optional<nlohmann::ordered_json> timeseries;
  // What else used the machine in the window (noise.h).
  struct Noise {
    std::optional<double> steal_server_cpus_pct, steal_client_cpus_pct;
    std::optional<double> other_processes_cpu_s, other_processes_cpu_pct;
  } noise;

  std::string id() const { return cell.run_id(repetition); }
  void fail(const std::string& reason);  // keeps the first reason
  nlohmann::ordered_json to_json() const;
};

// Statistics over one cell's successful repetitions.
nlohmann::ordered_json make_aggregates(const std::vector<Cell>& cells,
                                       const std::vector<RunRecord>& runs);

// {mean, median, stddev (sample), min, max}; all null for no values.
nlohmann::ordered_json summarize(std::vector<double> values);

class ResultsWriter {
 public:
  // Creates <root>/<stamp>/runs/ (stamp suffixed -1, -2... if taken) and
  // points <root>/latest at it. Throws cb::SysError.
  ResultsWriter(const std::string& root, const std::string& stamp);

  const std::string& dir() const { return dir_; }
  void set_context(nlohmann::ordered_json context) { context_ = std::move(context); }
  void set_config(nlohmann::ordered_json config) { config_ = std::move(config); }
  void set_cells(std::vector<Cell> cells) { cells_ = std::move(cells); }

  // Writes runs/<id>.hgrm; returns its path relative to dir().
  std::string write_hgrm(const std::string& id, const std::string& text);
  // Writes runs/<id>.<name> (a peer's configuration file); returns its path
  // relative to dir().
  std::string write_peer_config(const std::string& id, const std::string& name, const std::string& text);
  // Writes runs/<name>; returns its path relative to dir().
  std::string write_run_file(const std::string& name, const std::string& text);
  // Appends the run and rewrites results.json.
  void add_run(RunRecord run);
  // Rewrites results.json (tmp + rename). Throws cb::SysError.
  void flush() const;

  const std::vector<RunRecord>& runs() const { return runs_; }
  nlohmann::ordered_json document() const;

 private:
  std::string dir_;
  nlohmann::ordered_json context_ = nlohmann::ordered_json::object();
  nlohmann::ordered_json config_ = nlohmann::ordered_json::object();
  std::vector<Cell> cells_;
  std::vector<RunRecord> runs_;
};

// Writes `text` to `path` atomically (tmp file in the same folder, fsync,
// rename). Throws cb::SysError.
void write_file_atomic(const std::string& path, const std::string& text);

// "20261123T031500Z" (UTC), and the ISO 8601 form of the same time.
std::string utc_stamp(std::time_t when);
std::string utc_iso8601(std::time_t when);

}  // namespace cb::harness
