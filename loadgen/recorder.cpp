// recorder.cpp: see recorder.h.
#include "recorder.h"

namespace cb::loadgen {
namespace {

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

Recorder::Recorder(int64_t measure_ns, int64_t end_ns, bool http, uint32_t classes,
                   Measurement& out, LiveCounters& live)
    : measure_ns_(measure_ns),
      end_ns_(end_ns),
      http_(http),
      out_(out),
      live_(live) {
  out_.classes.resize(classes);
  classes_ = out_.classes.data();
}

void Recorder::connection_opened() {
  ++out_.counters.connections_opened;
  live_.open.store(++live_open_, std::memory_order_relaxed);
  out_.series.connections(static_cast<int64_t>(live_open_));
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

void merge_measurement(LoadResult& out, const Measurement& m) {
  out.counters.merge(m.counters);
  out.fairness.merge(m.fairness);
  out.cpu_user_s += m.cpu_user_s;
  out.cpu_sys_s += m.cpu_sys_s;
  out.series.merge(m.series);
  if (out.classes.size() < m.classes.size()) out.classes.resize(m.classes.size());
  for (std::size_t i = 0; i < m.classes.size(); ++i) {
    const ClassMeasurement& k = m.classes[i];
    out.classes[i].corrected.merge(k.corrected);
    out.classes[i].uncorrected.merge(k.uncorrected);
    out.corrected.merge(k.corrected);
    out.uncorrected.merge(k.uncorrected);
  }
}

}  // namespace cb::loadgen
