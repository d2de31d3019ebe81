// schedule.h: when things are meant to happen in one load thread, as pure
// arithmetic on CLOCK_MONOTONIC nanoseconds (no sockets, no clock reads):
// the open-loop send schedule of each connection and the connect ramp.
//
// Open loop at R requests/s over C connections: connection i sends at
// start + i/R + k*C/R, so together the connections send evenly spaced
// requests at R per second. The connect ramp (--connect-rate) starts each
// thread's connections at an even pace from the start, the first at once.
#pragma once

#include <cstdint>

#include "config.h"

namespace cb::loadgen {

class Schedule {
 public:
  // `rate_per_s` 0: closed loop; `connect_rate_per_s` 0: all at once. Both
  // rates are the run's totals; `threads` share the ramp evenly.
  Schedule(int64_t start_ns, uint32_t total_connections, double rate_per_s,
           double connect_rate_per_s, uint32_t threads);
  static Schedule for_run(const LoadConfig& config, int threads, int64_t start_ns);

  bool open_loop() const { return interval_ns_ > 0; }
  int64_t start_ns() const { return start_ns_; }
  // Open loop: the time between one connection's sends (at least 1 ns).
  int64_t interval_ns() const { return interval_ns_; }
  // Open loop: the first slot of connection `conn_id` at or after `now`.
  int64_t first_slot(uint32_t conn_id, int64_t now) const;
  // Open loop: the slot after `slot` on the same connection.
  int64_t next_slot(int64_t slot) const { return slot + interval_ns_; }

  // The ramp, for a thread with `total` connections: how many are due by
  // `now` (all of them without a ramp), and when to look again once
  // `started` have been started (only asked while some are not).
  uint32_t ramp_due(int64_t now, uint32_t total) const;
  int64_t ramp_next(uint32_t started, int64_t now) const;

 private:
  int64_t start_ns_;
  int64_t interval_ns_ = 0;   // 0: closed loop
  double phase_step_ns_ = 0;  // offset between consecutive connections' schedules
  double ramp_per_ns_ = 0;    // connects per ns on this thread; 0 = all at once
};

// The ramp's arithmetic, at `per_ns` connections per nanosecond of each
// thread: how many of `total` are due `elapsed_ns` after the start (the
// first at once), and when, after `elapsed_ns`, to look again once `started`
// have been started. The answer is always later than `elapsed_ns`, so a
// timer that fires exactly on time cannot find the same answer forever.
uint32_t ramp_due(int64_t elapsed_ns, double per_ns, uint32_t total);
int64_t ramp_next_ns(uint32_t started, double per_ns, int64_t elapsed_ns);

}  // namespace cb::loadgen
