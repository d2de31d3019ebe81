// load.h: the load generator as a library. The harness and the CLI both call
//
//   cb::loadgen::LoadControl control;               // optional: stop, progress
//   LoadResult r = cb::loadgen::run_load(config, &control);
//   std::string json = r.to_json().dump(2);
//
// run_load blocks until the run ends (duration, request count, stop() or an
// unreachable target) and always returns what it measured; it throws only
// for setup failures (bad config: std::invalid_argument; no threads or fds:
// std::runtime_error). Each load thread runs its own event loop and
// connections (worker.h); results are merged exactly at the end.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "common/fd.h"
#include "config.h"
#include "fairness.h"
#include "histogram.h"
#include "timeseries.h"

namespace cb::loadgen {

inline constexpr int kSchemaVersion = 1;

enum class ErrorClass : uint8_t {
  kConnect,   // socket/bind/connect failed or timed out (--connect-timeout)
  kRead,      // read failed, EOF with requests outstanding, malformed response
  kWrite,     // write failed (other than reset)
  kTimeout,   // a request got no complete response within --timeout
  kReset,     // ECONNRESET / EPIPE
  kStatus,    // HTTP response outside 2xx
  kMismatch,  // echo bytes differed from what was sent, or unsolicited bytes
  kLate,      // open loop: not sent at its intended time (connection busy)
  kCount,
};
inline constexpr std::size_t kErrorClassCount = static_cast<std::size_t>(ErrorClass::kCount);
const char* error_class_name(ErrorClass c);

// Per-thread and merged totals. Requests, bytes, latencies and `late` cover
// the measured window; the other error classes and connection counts cover
// the whole run (a failure during warm-up is still worth knowing about).
struct Counters {
  uint64_t requests = 0;  // complete responses
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  // Of the responses counted in `requests`: their heads (status line,
  // headers, empty line; 0 for echo) and bodies (echo: the messages).
  uint64_t response_head_bytes = 0;
  uint64_t response_body_bytes = 0;
  std::array<uint64_t, 6> status_classes{};  // [1]=1xx .. [5]=5xx; [0] other
  std::array<uint64_t, kErrorClassCount> errors{};
  std::array<int, kErrorClassCount> first_errno{};  // 0: none or not a syscall
  uint64_t connect_attempts = 0;
  uint64_t connections_opened = 0;
  uint64_t closed_by_server = 0;  // idle connections the server closed
  // Requests asked for before the window opened and still unanswered when it
  // closed: connections the server left waiting the whole window (a fixed
  // pool of busy workers, a full backlog). Their latency is unknown, so the
  // histograms cannot hold them; closed-loop percentiles without this count
  // would hide a starved client.
  uint64_t unanswered_through_window = 0;

  void merge(const Counters& other);
  uint64_t error_total() const;  // every class except `late`
};

// The latencies of one request class: a --paths line (in file order), or
// the whole load for echo or a single path.
struct ClassResult {
  std::string path;  // "" for echo
  uint32_t weight = 1;
  Histogram corrected;
  Histogram uncorrected;
  uint64_t requests() const { return corrected.count(); }
};

// The request classes of a run, without latencies yet: one per path for
// http, one for echo.
std::vector<ClassResult> request_classes(const LoadConfig& config);

struct LoadResult {
  LoadConfig config;
  Counters counters;
  Histogram corrected;    // from each request's intended send time
  Histogram uncorrected;  // from the moment it was actually written
  // Per class, in config.paths order; their histograms add up exactly to
  // corrected and uncorrected (which are their merge).
  std::vector<ClassResult> classes;
  Fairness fairness;      // requests per connection slot in the window
  // Interval by interval from the warm-up to the window's end (LoadConfig::
  // interval); its window intervals add up to counters.requests.
  TimeSeries series;
  int64_t window_start_ns = 0;  // CLOCK_MONOTONIC (steady_clock): when the window opened
  int64_t window_end_ns = 0;    // and when it closed
  double duration_s = 0;  // length of the measured window
  double cpu_user_s = 0;  // load threads, over the measured window
  double cpu_sys_s = 0;
  double cpu_utilization = 0;  // (user+sys) / (window x CPUs the threads could use)
  bool saturated = false;      // cpu_utilization >= kSaturatedUtilization
  int cpus_usable = 1;
  std::string stop_reason;  // "duration", "requests", "stopped", "unreachable"

  static constexpr double kSaturatedUtilization = 0.9;

  double requests_per_s() const;
  double transfer_mib_per_s() const;  // bytes read
  // Mean head and body bytes of a response in the window; nullopt without
  // responses (the head: http only).
  std::optional<double> response_header_bytes_per_request() const;
  std::optional<double> response_body_bytes_per_request() const;
  // Exit status for tools: 0 when the run saw no errors, 1 otherwise.
  int exit_code() const;
  nlohmann::json to_json() const;  // the schema in README.md
};

// Live view of a run, for a harness progress line.
struct Progress {
  enum class Phase { kIdle, kConnecting, kWarmup, kMeasuring, kDone };
  Phase phase = Phase::kIdle;
  double elapsed_s = 0;
  uint64_t requests = 0;  // responses so far, warm-up included
  uint64_t errors = 0;
  uint64_t connections_open = 0;
};
const char* phase_name(Progress::Phase p);

// Per-thread live counters, each on its own cache line; written by one load
// thread with relaxed stores, read by anyone.
struct alignas(64) LiveCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> open{0};
};

// Stops a run from another thread (or a signal handler: stop() is one
// write(2)) and reports progress. One control serves one run at a time.
class LoadControl {
 public:
  // `extra_stop_fd`: another descriptor whose readability also stops the run
  // (the CLI passes cb::stop_fd() so SIGINT ends the run with a report).
  explicit LoadControl(int extra_stop_fd = -1);
  void stop();
  Progress progress() const;

  // Used by run_load.
  int stop_fd() const { return stop_.get(); }
  int extra_stop_fd() const { return extra_stop_fd_; }
  void begin(std::shared_ptr<LiveCounters[]> live, int threads, int64_t start_ns, int64_t warmup_ns,
             int64_t measure_ns, int64_t end_ns);
  void end();

 private:
  Fd stop_;
  int extra_stop_fd_;
  mutable std::mutex mu_;
  std::shared_ptr<LiveCounters[]> live_;
  int threads_ = 0;
  int64_t start_ns_ = 0, warmup_ns_ = 0, measure_ns_ = 0, end_ns_ = 0;
  bool done_ = false;
};

LoadResult run_load(const LoadConfig& config, LoadControl* control = nullptr);

}  // namespace cb::loadgen
