// recorder.h: what one load thread measures, and the rules of what counts.
// Requests, bytes, latencies and `late` count only inside the measured
// window [measure_ns, end_ns); errors and connection counts cover the whole
// run; CPU use is sampled when the window opens and when the run ends.
// The worker tells the Recorder what happened and when; nothing here reads
// the clock or a socket (getrusage aside), so it is tested on its own.
// Everything on the per-request path is inline and allocation-free.
#pragma once

#include <sys/resource.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fairness.h"
#include "histogram.h"
#include "load.h"
#include "response_reader.h"
#include "timeseries.h"

namespace cb::loadgen {

// The latencies of one request class (a --paths line, in file order; the
// whole load for echo or a single path).
struct ClassMeasurement {
  Histogram corrected;    // from each request's intended send time
  Histogram uncorrected;  // from the moment it was written
};

// What a thread measured, merged by run_load (merge_measurement).
struct Measurement {
  Counters counters;
  // One per request class, indexed like the RequestSet, sized when the
  // Recorder is made. A response is recorded in its class only; the run's
  // totals are the merge of the classes, so classes cost no second record
  // per request and always add up to the totals.
  std::vector<ClassMeasurement> classes;
  Fairness fairness;  // requests per connection slot in the window
  // Interval by interval from the warm-up on (Recorder::enable_series).
  TimeSeries series;
  double cpu_user_s = 0;  // over the window
  double cpu_sys_s = 0;
};

class Recorder {
 public:
  // Fills `out`, with `classes` request classes (allocated here, never on
  // the per-request path); publishes running totals to `live` (relaxed
  // stores, for LoadControl::progress). `http`: responses carry a status to
  // count.
  Recorder(int64_t measure_ns, int64_t end_ns, bool http, uint32_t classes, Measurement& out,
           LiveCounters& live);

  bool recording(int64_t now) const { return now >= measure_ns_ && now < end_ns_; }
  // Also records interval by interval (timeseries.h) from `origin_ns`,
  // every `interval_ns` (0: not at all), until the window's end.
  void enable_series(int64_t origin_ns, int64_t interval_ns) {
    out_.series = TimeSeries(origin_ns, interval_ns, end_ns_);
  }
  int64_t measure_ns() const { return measure_ns_; }

  void bytes_read(int64_t now, uint64_t n) {
    if (recording(now)) out_.counters.bytes_read += n;
    out_.series.bytes_read(now, n);
  }
  void bytes_written(int64_t now, uint64_t n) {
    if (recording(now)) out_.counters.bytes_written += n;
  }
  // A response to a request of class `cls` (< classes), intended at
  // `intended_ns` and written at `sent_ns`, completed at `now`. Returns
  // whether it counted (inside the window), for the connection's fairness
  // count.
  bool response(int64_t now, int64_t intended_ns, int64_t sent_ns, uint32_t cls,
                const Response& r) {
    bool counted = recording(now);
    if (counted) {
      record_latency(now, intended_ns, sent_ns, classes_[cls], r.status);
      out_.counters.response_head_bytes += r.head_bytes;
      out_.counters.response_body_bytes += r.body_bytes;
    }
    out_.series.response(now, static_cast<uint64_t>(now - intended_ns), static_cast<int64_t>(live_open_));
    live_.requests.store(++live_requests_, std::memory_order_relaxed);
    if (r.mismatch) error(ErrorClass::kMismatch, 0, now);
    if (http_ && (r.status < 200 || r.status > 299)) error(ErrorClass::kStatus, 0, now);
    return counted;
  }
  // Open loop: a request went out after its intended time (window only; not
  // an error of the server, so neither first_errno nor the live count).
  void late(int64_t now) {
    if (recording(now)) ++out_.counters.errors[static_cast<std::size_t>(ErrorClass::kLate)];
    out_.series.late(now);
  }
  // A failure of class `cls`; `err` is its errno (0: not a syscall's);
  // `now` places it in the time series (-1: unknown, not placed).
  void error(ErrorClass cls, int err, int64_t now = -1) {
    std::size_t i = static_cast<std::size_t>(cls);
    if (out_.counters.errors[i]++ == 0) out_.counters.first_errno[i] = err;
    live_.errors.store(++live_errors_, std::memory_order_relaxed);
    if (now >= 0) out_.series.error(now);
  }

  void connect_attempt() { ++out_.counters.connect_attempts; }
  void connection_opened();
  void connection_closed() {
    live_.open.store(--live_open_, std::memory_order_relaxed);
    out_.series.connections(static_cast<int64_t>(live_open_));
  }
  void closed_by_server() { ++out_.counters.closed_by_server; }
  // At the end: a request still queued or in flight, intended at
  // `intended_ns`; counted if it was due before the window opened.
  void unanswered(int64_t intended_ns) {
    if (intended_ns < measure_ns_) ++out_.counters.unanswered_through_window;
  }

  // At the end: one connection slot completed `window_requests` in the
  // window.
  void connection_slot(uint64_t window_requests) { out_.fairness.add(window_requests); }

  // The window opens (CPU sample) and, at the end of the run, closes.
  void open_window();
  bool window_open() const { return window_open_; }
  void close_window();

 private:
  void record_latency(int64_t now, int64_t intended_ns, int64_t sent_ns, ClassMeasurement& k,
                      int status) {
    k.corrected.record(static_cast<uint64_t>(now - intended_ns));
    k.uncorrected.record(static_cast<uint64_t>(now - sent_ns));
    ++out_.counters.requests;
    if (http_) {
      int cls = status / 100;
      ++out_.counters.status_classes[cls >= 1 && cls <= 5 ? static_cast<std::size_t>(cls) : 0];
    }
  }

  int64_t measure_ns_;
  int64_t end_ns_;
  bool http_;
  bool window_open_ = false;
  Measurement& out_;
  ClassMeasurement* classes_ = nullptr;  // out_.classes.data(): one load less per request
  LiveCounters& live_;
  uint64_t live_requests_ = 0, live_errors_ = 0, live_open_ = 0;
  rusage cpu_start_{};
};

// Adds one thread's measurement to the run's result: counters, fairness,
// CPU, each class's histograms (out.classes grows to m's classes if short)
// and, from the classes, the total histograms; the time series add up.
void merge_measurement(LoadResult& out, const Measurement& m);

}  // namespace cb::loadgen
