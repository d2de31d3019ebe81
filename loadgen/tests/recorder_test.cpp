// recorder_test.cpp: what counts where. Requests, bytes, latencies and
// `late` only inside the window [measure, end); errors (with their first
// errno) and connection counts over the whole run; live counters for
// progress; CPU over the window; latencies by request class, whose merge is
// the run's total.
#include "loadgen/recorder.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <time.h>

#include <cerrno>
#include <chrono>
#include <vector>

namespace cb::loadgen {
namespace {

constexpr int64_t kMeasure = 1'000'000;
constexpr int64_t kEnd = 2'000'000;

uint64_t errors(const Measurement& m, ErrorClass c) {
  return m.counters.errors[static_cast<std::size_t>(c)];
}

struct Fixture {
  explicit Fixture(bool http, uint32_t classes = 1) : rec(kMeasure, kEnd, http, classes, m, live) {}
  Measurement m;
  LiveCounters live;
  Recorder rec;
};

TEST(Recorder, TheWindowIncludesItsStartNotItsEnd) {
  Fixture f(false);
  EXPECT_FALSE(f.rec.recording(kMeasure - 1));
  EXPECT_TRUE(f.rec.recording(kMeasure));
  EXPECT_TRUE(f.rec.recording(kEnd - 1));
  EXPECT_FALSE(f.rec.recording(kEnd));
}

TEST(Recorder, LatenciesFromIntendedAndFromSent) {
  Fixture f(false);
  f.rec.response(kMeasure + 5000, kMeasure + 1000, kMeasure + 4000, 0, Response{});
  EXPECT_EQ(f.m.counters.requests, 1u);
  EXPECT_EQ(f.m.classes[0].corrected.count(), 1u);
  EXPECT_EQ(f.m.classes[0].corrected.max(), 4000u);
  EXPECT_EQ(f.m.classes[0].uncorrected.max(), 1000u);
  EXPECT_EQ(f.live.requests.load(), 1u);
  EXPECT_EQ(f.m.counters.error_total(), 0u);
}

TEST(Recorder, OutsideTheWindowOnlyErrorsConnectionsAndLiveCountsMove) {
  Fixture f(true);
  for (int64_t now : {kMeasure - 1, kEnd}) {
    f.rec.response(now, now - 10, now - 10, 0, Response{500, false, false});
    f.rec.bytes_read(now, 100);
    f.rec.bytes_written(now, 100);
    f.rec.late(now);
  }
  f.rec.connect_attempt();
  f.rec.connection_opened();
  EXPECT_EQ(f.m.counters.requests, 0u);
  EXPECT_EQ(f.m.classes[0].corrected.count(), 0u);
  EXPECT_EQ(f.m.counters.bytes_read, 0u);
  EXPECT_EQ(f.m.counters.bytes_written, 0u);
  EXPECT_EQ(f.m.counters.status_classes[5], 0u);
  EXPECT_EQ(errors(f.m, ErrorClass::kLate), 0u);
  EXPECT_EQ(errors(f.m, ErrorClass::kStatus), 2u);  // errors cover the whole run
  EXPECT_EQ(f.m.counters.connect_attempts, 1u);
  EXPECT_EQ(f.m.counters.connections_opened, 1u);
  EXPECT_EQ(f.live.requests.load(), 2u);
  EXPECT_EQ(f.live.errors.load(), 2u);
  EXPECT_EQ(f.live.open.load(), 1u);
}

TEST(Recorder, HttpStatusClassesAndErrors) {
  Fixture f(true);
  for (int status : {200, 204, 101, 301, 404, 503, 999}) {
    f.rec.response(kMeasure, kMeasure, kMeasure, 0, Response{status, false, false});
  }
  const auto& s = f.m.counters.status_classes;
  EXPECT_EQ(s[2], 2u);
  EXPECT_EQ(s[1], 1u);
  EXPECT_EQ(s[3], 1u);
  EXPECT_EQ(s[4], 1u);
  EXPECT_EQ(s[5], 1u);
  EXPECT_EQ(s[0], 1u);  // outside 100..599
  EXPECT_EQ(errors(f.m, ErrorClass::kStatus), 5u);
}

TEST(Recorder, EchoCountsMismatchesAndNoStatus) {
  Fixture f(false);
  f.rec.response(kMeasure, kMeasure, kMeasure, 0, Response{0, true, false});
  f.rec.response(kMeasure, kMeasure, kMeasure, 0, Response{0, false, false});
  EXPECT_EQ(errors(f.m, ErrorClass::kMismatch), 1u);
  EXPECT_EQ(errors(f.m, ErrorClass::kStatus), 0u);
  EXPECT_EQ(f.m.counters.status_classes[0], 0u);
  EXPECT_EQ(f.m.counters.requests, 2u);
}

TEST(Recorder, FirstErrnoPerClassIsTheFirstOne) {
  Fixture f(false);
  f.rec.error(ErrorClass::kConnect, ECONNREFUSED);
  f.rec.error(ErrorClass::kConnect, ETIMEDOUT);
  f.rec.error(ErrorClass::kReset, ECONNRESET);
  EXPECT_EQ(errors(f.m, ErrorClass::kConnect), 2u);
  EXPECT_EQ(f.m.counters.first_errno[static_cast<std::size_t>(ErrorClass::kConnect)], ECONNREFUSED);
  EXPECT_EQ(f.m.counters.first_errno[static_cast<std::size_t>(ErrorClass::kReset)], ECONNRESET);
  EXPECT_EQ(f.live.errors.load(), 3u);
}

TEST(Recorder, LateCountsInTheWindowButIsNotAnError) {
  Fixture f(false);
  f.rec.late(kMeasure);
  EXPECT_EQ(errors(f.m, ErrorClass::kLate), 1u);
  EXPECT_EQ(f.m.counters.error_total(), 0u);
  EXPECT_EQ(f.live.errors.load(), 0u);
}

TEST(Recorder, ConnectionsOpenGoUpAndDown) {
  Fixture f(false);
  f.rec.connection_opened();
  f.rec.connection_opened();
  f.rec.connection_closed();
  f.rec.closed_by_server();
  EXPECT_EQ(f.live.open.load(), 1u);
  EXPECT_EQ(f.m.counters.connections_opened, 2u);
  EXPECT_EQ(f.m.counters.closed_by_server, 1u);
}

TEST(Recorder, UnansweredCountsOnlyWhatWasDueBeforeTheWindow) {
  Fixture f(false);
  f.rec.unanswered(kMeasure - 1);
  f.rec.unanswered(0);
  f.rec.unanswered(kMeasure);
  EXPECT_EQ(f.m.counters.unanswered_through_window, 2u);
}

TEST(Recorder, EachResponseIsRecordedInItsClassOnly) {
  Fixture f(false, 3);
  ASSERT_EQ(f.m.classes.size(), 3u);  // preallocated: nothing grows per request
  f.rec.response(kMeasure + 700, kMeasure, kMeasure + 200, 2, Response{});
  f.rec.response(kMeasure - 1, kMeasure - 2, kMeasure - 2, 1, Response{});  // before the window
  EXPECT_EQ(f.m.classes[0].corrected.count(), 0u);
  EXPECT_EQ(f.m.classes[1].corrected.count(), 0u);
  EXPECT_EQ(f.m.classes[2].corrected.max(), 700u);
  EXPECT_EQ(f.m.classes[2].uncorrected.max(), 500u);
  EXPECT_EQ(f.m.counters.requests, 1u);
}

void expect_same(const Histogram& a, const Histogram& b) {
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  auto ab = a.buckets(), bb = b.buckets();
  ASSERT_EQ(ab.size(), bb.size());
  for (std::size_t i = 0; i < ab.size(); ++i) {
    EXPECT_EQ(ab[i].lower_ns, bb[i].lower_ns);
    EXPECT_EQ(ab[i].count, bb[i].count);
  }
}

// Two threads' recorders with three classes, merged as run_load merges
// them: each class is the union of its threads' samples, and the classes
// add up exactly to the totals.
TEST(Recorder, MergedClassesAddUpToTheTotals) {
  Fixture a(false, 3), b(false, 3);
  Histogram expected_corrected, expected_uncorrected;
  std::vector<Histogram> per_class(3);
  for (int64_t i = 0; i < 3000; ++i) {
    Fixture& f = i % 2 == 0 ? a : b;
    uint32_t cls = static_cast<uint32_t>(i % 7 == 0 ? 0 : (i % 3 == 0 ? 1 : 2));
    // Every response inside the window [kMeasure, kEnd).
    int64_t intended = kMeasure + i, sent = intended + i * 13 % 5000;
    int64_t done = sent + 1000 + i * 977 % 900'000;
    f.rec.response(done, intended, sent, cls, Response{});
    expected_corrected.record(static_cast<uint64_t>(done - intended));
    expected_uncorrected.record(static_cast<uint64_t>(done - sent));
    per_class[cls].record(static_cast<uint64_t>(done - intended));
  }
  LoadResult out;
  merge_measurement(out, a.m);
  merge_measurement(out, b.m);
  ASSERT_EQ(out.classes.size(), 3u);
  expect_same(out.corrected, expected_corrected);
  expect_same(out.uncorrected, expected_uncorrected);
  EXPECT_EQ(out.counters.requests, 3000u);
  Histogram sum_corrected, sum_uncorrected;
  uint64_t requests = 0;
  for (std::size_t k = 0; k < 3; ++k) {
    expect_same(out.classes[k].corrected, per_class[k]);
    EXPECT_GT(out.classes[k].requests(), 0u);
    requests += out.classes[k].requests();
    sum_corrected.merge(out.classes[k].corrected);
    sum_uncorrected.merge(out.classes[k].uncorrected);
  }
  EXPECT_EQ(requests, out.counters.requests);
  expect_same(sum_corrected, out.corrected);
  expect_same(sum_uncorrected, out.uncorrected);
}

TEST(Recorder, CpuIsMeasuredOverTheWindowOnly) {
  Fixture f(false);
  f.rec.close_window();  // never opened: nothing measured
  EXPECT_FALSE(f.rec.window_open());
  EXPECT_EQ(f.m.cpu_user_s + f.m.cpu_sys_s, 0.0);
  f.rec.open_window();
  EXPECT_TRUE(f.rec.window_open());
  // Spin until this thread has used 30 ms of CPU (a loaded machine may give
  // it far less than the wall time), at most 10 s of wall time.
  auto thread_cpu = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  };
  double cpu0 = thread_cpu();
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  volatile uint64_t spin = 0;
  while (thread_cpu() - cpu0 < 0.030 && std::chrono::steady_clock::now() < give_up) spin = spin + 1;
  f.rec.close_window();
  EXPECT_GT(f.m.cpu_user_s + f.m.cpu_sys_s, 0.005);
  EXPECT_LT(f.m.cpu_user_s + f.m.cpu_sys_s, 5.0);
}

// The series: intervals aligned on the window's start, reaching back over
// the warm-up; responses, errors and late sends land in the interval of
// their time; nothing at or after the window's end.
TEST(Recorder, TimeSeriesPlacesEventsInTheirIntervals) {
  Fixture f(false);
  constexpr int64_t kStep = 250'000;  // the window is 1 ms: four intervals
  int64_t origin = series_origin(kMeasure - 300'000, kMeasure, kStep);
  EXPECT_EQ(origin, kMeasure - 2 * kStep);
  f.rec.enable_series(origin, kStep);
  f.rec.connection_opened();
  f.rec.response(kMeasure - 10, kMeasure - 1000, kMeasure - 1000, 0, Response{});  // warm-up
  f.rec.response(kMeasure, kMeasure - 4000, kMeasure - 4000, 0, Response{});
  f.rec.response(kMeasure + kStep + 1, kMeasure + kStep - 2000, kMeasure + kStep - 2000, 0,
                 Response{});
  f.rec.error(ErrorClass::kReset, ECONNRESET, kMeasure + 3 * kStep);
  f.rec.late(kMeasure + 3 * kStep + 5);
  f.rec.response(kEnd, kEnd - 1, kEnd - 1, 0, Response{});  // after the window: nowhere
  const auto& iv = f.m.series.intervals();
  ASSERT_EQ(iv.size(), 6u);
  EXPECT_EQ(iv[1].requests, 1u);  // the warm-up interval just before the window
  EXPECT_EQ(iv[2].requests, 1u);
  EXPECT_EQ(iv[2].latency.max(), 4000u);
  EXPECT_EQ(iv[3].requests, 1u);
  EXPECT_EQ(iv[3].latency.max(), 2001u);
  EXPECT_EQ(iv[5].errors, 1u);
  EXPECT_EQ(iv[5].late, 1u);
  EXPECT_EQ(iv[2].connections_open, 1);
  EXPECT_EQ(f.m.counters.requests, 2u);  // the window's two

  nlohmann::json j = f.m.series.to_json(kMeasure, kEnd);
  ASSERT_EQ(j["intervals"].size(), 6u);
  EXPECT_TRUE(j["intervals"][1]["warmup"].get<bool>());
  EXPECT_FALSE(j["intervals"][2]["warmup"].get<bool>());
  EXPECT_DOUBLE_EQ(j["intervals"][2]["start_s"].get<double>(), 0.0);
  EXPECT_TRUE(j["intervals"][4]["p99_us"].is_null());
  EXPECT_EQ(j["intervals"][4]["connections_open"].get<int64_t>(), 1);  // carried forward
  EXPECT_TRUE(j["intervals"][0]["connections_open"].is_null());
}

// Two threads' series add up interval by interval.
TEST(Recorder, TimeSeriesMergeAddsCountsAndHistograms) {
  TimeSeries a(0, 100, 1000), b(0, 100, 1000);
  a.response(50, 10, 2);
  b.response(50, 30, 3);
  b.response(950, 7, 3);
  a.merge(b);
  ASSERT_EQ(a.intervals().size(), 10u);
  EXPECT_EQ(a.intervals()[0].requests, 2u);
  EXPECT_EQ(a.intervals()[0].latency.max(), 30u);
  EXPECT_EQ(a.intervals()[0].connections_open, 5);
  EXPECT_EQ(a.intervals()[9].requests, 1u);
}

// The coarse histogram keeps every value within 1/32 of itself.
TEST(Recorder, CoarseHistogramPercentilesWithinItsResolution) {
  CoarseHistogram h;
  for (uint64_t v = 1; v <= 100'000; ++v) h.record(v * 1000);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    double exact = p / 100.0 * 100'000 * 1000;
    double got = static_cast<double>(h.value_at_percentile(p));
    EXPECT_GE(got, exact * (1 - 1e-9)) << p;
    EXPECT_LE(got, exact * (1 + 1.0 / 32)) << p;
  }
  EXPECT_EQ(h.value_at_percentile(100), 100'000'000u);
  for (uint64_t v : {0ull, 1ull, 63ull, 64ull, 65ull, 1000ull, 123456789ull, 100'000'000'000ull}) {
    std::size_t i = CoarseHistogram::index_of(v);
    ASSERT_LT(i, CoarseHistogram::kSlots);
    EXPECT_LE(CoarseHistogram::lowest_equivalent(i), v);
    EXPECT_GE(CoarseHistogram::highest_equivalent(i), v);
  }
}

}  // namespace
}  // namespace cb::loadgen
