// schedule.cpp: see schedule.h.
#include "schedule.h"

#include <algorithm>
#include <cmath>

namespace cb::loadgen {

Schedule::Schedule(int64_t start_ns, uint32_t total_connections, double rate_per_s,
                   double connect_rate_per_s, uint32_t threads)
    : start_ns_(start_ns) {
  if (rate_per_s > 0) {
    interval_ns_ =
        std::max<int64_t>(1, static_cast<int64_t>(total_connections * 1e9 / rate_per_s));
    phase_step_ns_ = 1e9 / rate_per_s;
  }
  if (connect_rate_per_s > 0) ramp_per_ns_ = connect_rate_per_s / threads / 1e9;
}

Schedule Schedule::for_run(const LoadConfig& config, int threads, int64_t start_ns) {
  return Schedule(start_ns, static_cast<uint32_t>(config.connections), config.rate_per_s,
                  config.connect_rate_per_s, static_cast<uint32_t>(threads));
}

int64_t Schedule::first_slot(uint32_t conn_id, int64_t now) const {
  int64_t t = start_ns_ + static_cast<int64_t>(conn_id * phase_step_ns_);
  if (t >= now) return t;
  int64_t k = (now - t + interval_ns_ - 1) / interval_ns_;
  return t + k * interval_ns_;
}

uint32_t Schedule::ramp_due(int64_t now, uint32_t total) const {
  if (ramp_per_ns_ <= 0) return total;
  return cb::loadgen::ramp_due(now - start_ns_, ramp_per_ns_, total);
}

int64_t Schedule::ramp_next(uint32_t started, int64_t now) const {
  return start_ns_ + ramp_next_ns(started, ramp_per_ns_, now - start_ns_);
}

uint32_t ramp_due(int64_t elapsed_ns, double per_ns, uint32_t total) {
  double n = static_cast<double>(elapsed_ns) * per_ns + 1;
  return static_cast<uint32_t>(std::min<double>(total, n));
}

// Rounding can make ramp_due one short at exactly the nanosecond computed
// here; a timer re-armed for that same instant would then fire again at once
// and start nothing, forever (the loop's clock does not move within a turn).
int64_t ramp_next_ns(uint32_t started, double per_ns, int64_t elapsed_ns) {
  auto next = static_cast<int64_t>(std::ceil(static_cast<double>(started) / per_ns));
  return std::max(next, elapsed_ns + 1);
}

}  // namespace cb::loadgen
