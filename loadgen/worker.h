// worker.h: one load thread = one EventLoop<EpollPoller> with its share of
// the connections and their state machine (worker.cpp). run_load (load.cpp)
// plans the run, starts one worker per thread and merges what they return;
// everything a worker touches while the run is on is its own, apart from a
// few atomics in SharedRun.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "config.h"
#include "load.h"
#include "recorder.h"

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
  Measurement measured;
  int64_t end_ns = 0;       // when this worker stopped
  std::string stop_reason;  // "duration", "requests", "stopped", "unreachable"
  std::string error;        // non-empty: the worker failed (setup or epoll)
};

// The thread body: runs the worker's loop until the run ends. Never throws
// (a failure is reported in result.error).
void run_worker(const WorkerPlan& plan, WorkerResult& result);

// Nanoseconds on the clock the event loop uses.
int64_t monotonic_ns();

}  // namespace cb::loadgen
