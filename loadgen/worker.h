// worker.h: one load thread = one EventLoop<EpollPoller> with its share of
// the connections. run_load (load.cpp) plans the run, starts one worker per
// thread and merges what they return; everything a worker touches while the
// run is on is its own, apart from a few atomics in SharedRun.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "config.h"
#include "histogram.h"
#include "load.h"

namespace cb::loadgen {

// The run's timeline, CLOCK_MONOTONIC (steady_clock) nanoseconds, common to
// every thread so no coordination is needed: connects start at start_ns
// (spread by --connect-rate), the warm-up starts when the ramp is over, the
// measured window is [measure_ns, end_ns).
struct Timeline {
  int64_t start_ns = 0;
  int64_t warmup_ns = 0;
  int64_t measure_ns = 0;
  int64_t end_ns = INT64_MAX;  // INT64_MAX: until the request count is done
};

// What the threads share while running.
struct SharedRun {
  uint64_t total_connections = 0;
  std::atomic<bool> any_connected{false};
  std::atomic<uint64_t> first_attempts_failed{0};
  std::atomic<bool> unreachable{false};
  int stop_fd = -1;  // eventfd: writing to it stops every worker
  void stop_all() const;
};

struct WorkerPlan {
  const LoadConfig* config = nullptr;
  int index = 0;               // this thread's number
  int threads = 1;             // connection i belongs to thread i % threads
  uint64_t request_quota = 0;  // requests to send in the window; 0 = no limit
  Timeline timeline;
  LiveCounters* live = nullptr;
  SharedRun* shared = nullptr;
  int extra_stop_fd = -1;
};

struct WorkerResult {
  Counters counters;
  Histogram corrected;
  Histogram uncorrected;
  double cpu_user_s = 0;
  double cpu_sys_s = 0;
  int64_t end_ns = 0;       // when this worker stopped
  std::string stop_reason;  // "duration", "requests", "stopped", "unreachable"
  std::string error;        // non-empty: the worker failed (setup or epoll)
};

// The thread body: runs the worker's loop until the run ends. Never throws
// (a failure is reported in result.error).
void run_worker(const WorkerPlan& plan, WorkerResult& result);

// Nanoseconds on the clock the event loop uses.
int64_t monotonic_ns();

// The connect ramp (--connect-rate), at `per_ns` connections per nanosecond
// of each thread: how many of `total` are due `elapsed_ns` after the start
// (the first at once), and when, after `elapsed_ns`, to look again once
// `started` have been started. The answer is always later than `elapsed_ns`,
// so a timer that fires exactly on time cannot find the same answer forever.
uint32_t ramp_due(int64_t elapsed_ns, double per_ns, uint32_t total);
int64_t ramp_next_ns(uint32_t started, double per_ns, int64_t elapsed_ns);

}  // namespace cb::loadgen
