// recorder.cpp: see recorder.h.
#include "recorder.h"

namespace cb::loadgen {
namespace {

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

Recorder::Recorder(int64_t measure_ns, int64_t end_ns, bool http, Measurement& out,
                   LiveCounters& live)
    : measure_ns_(measure_ns), end_ns_(end_ns), http_(http), out_(out), live_(live) {}

void Recorder::connection_opened() {
  ++out_.counters.connections_opened;
  live_.open.store(++live_open_, std::memory_order_relaxed);
}

void Recorder::open_window() {
  window_open_ = true;
  rusage now{};
  if (::getrusage(RUSAGE_THREAD, &now) == 0) cpu_start_ = now;
}

void Recorder::close_window() {
  if (!window_open_) return;
  rusage now{};
  if (::getrusage(RUSAGE_THREAD, &now) != 0) return;  // leaves CPU at 0: visible
  out_.cpu_user_s = seconds(now.ru_utime) - seconds(cpu_start_.ru_utime);
  out_.cpu_sys_s = seconds(now.ru_stime) - seconds(cpu_start_.ru_stime);
}

}  // namespace cb::loadgen
