// schedule_test.cpp: the open-loop schedule and the connect ramp as plain
// arithmetic: evenly spaced sends at the configured rate, first slots on each
// connection's grid, and a ramp that starts every connection on time.
#include "loadgen/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace cb::loadgen {
namespace {

constexpr int64_t kStart = 1'000'000'000;  // any origin: nothing assumes 0
constexpr int64_t kMs = 1'000'000;

TEST(Schedule, ClosedLoopHasNoSchedule) {
  Schedule s(kStart, 10, 0, 0, 1);
  EXPECT_FALSE(s.open_loop());
  EXPECT_EQ(s.start_ns(), kStart);
}

TEST(Schedule, ConnectionsTogetherSendEvenlyAtTheRate) {
  // 4 connections at 1000/s: each sends every 4 ms, offset by 1 ms.
  Schedule s(kStart, 4, 1000, 0, 1);
  ASSERT_TRUE(s.open_loop());
  EXPECT_EQ(s.interval_ns(), 4 * kMs);
  std::vector<int64_t> sends;
  for (uint32_t id = 0; id < 4; ++id) {
    for (int64_t t = s.first_slot(id, kStart); t < kStart + 1000 * kMs; t = s.next_slot(t)) {
      sends.push_back(t);
    }
  }
  std::sort(sends.begin(), sends.end());
  ASSERT_EQ(sends.size(), 1000u);
  for (std::size_t k = 0; k < sends.size(); ++k) {
    EXPECT_EQ(sends[k], kStart + static_cast<int64_t>(k) * kMs) << k;
  }
}

TEST(Schedule, FirstSlotIsTheNextOnTheConnectionsGrid) {
  Schedule s(kStart, 4, 1000, 0, 1);  // connection 1: start + 1 ms + k * 4 ms
  EXPECT_EQ(s.first_slot(1, kStart), kStart + 1 * kMs);
  EXPECT_EQ(s.first_slot(1, kStart + 1 * kMs), kStart + 1 * kMs);  // exactly on a slot
  EXPECT_EQ(s.first_slot(1, kStart + 1 * kMs + 1), kStart + 5 * kMs);
  EXPECT_EQ(s.first_slot(1, kStart + 42 * kMs), kStart + 45 * kMs);
  EXPECT_EQ(s.first_slot(1, kStart - 7 * kMs), kStart + 1 * kMs);  // before the start
}

TEST(Schedule, IntervalIsAtLeastOneNanosecond) {
  Schedule s(kStart, 1, 1e12, 0, 1);
  EXPECT_EQ(s.interval_ns(), 1);
  EXPECT_EQ(s.next_slot(kStart), kStart + 1);
}

TEST(Schedule, ForRunTakesTheConfigsTotals) {
  LoadConfig c;
  c.connections = 100;
  c.rate_per_s = 50'000;
  Schedule s = Schedule::for_run(c, 4, kStart);
  EXPECT_EQ(s.interval_ns(), 2 * kMs);  // 100 connections / 50k per s
  EXPECT_EQ(s.first_slot(3, kStart), kStart + 3 * 20'000);
}

TEST(Ramp, WithoutARateEveryConnectionIsDueAtOnce) {
  Schedule s(kStart, 10, 0, 0, 2);
  EXPECT_EQ(s.ramp_due(kStart, 5), 5u);
  EXPECT_EQ(s.ramp_due(kStart + 10 * kMs, 5), 5u);
}

TEST(Ramp, SharesTheRateBetweenThreads) {
  // 1000 connects/s over 2 threads: each starts one every 2 ms, the first at once.
  Schedule s(kStart, 100, 0, 1000, 2);
  EXPECT_EQ(s.ramp_due(kStart, 50), 1u);
  // (Exactly at a multiple, rounding may go either way: ramp_next copes.)
  EXPECT_EQ(s.ramp_due(kStart + 2 * kMs - 1000, 50), 1u);
  EXPECT_EQ(s.ramp_due(kStart + 2 * kMs + 1000, 50), 2u);
  EXPECT_EQ(s.ramp_due(kStart + 10 * kMs + 1000, 50), 6u);
  EXPECT_EQ(s.ramp_due(kStart + 1000 * kMs, 50), 50u);  // never more than the thread has
  EXPECT_NEAR(static_cast<double>(s.ramp_next(1, kStart) - kStart), 2.0 * kMs, 1.0);
  EXPECT_NEAR(static_cast<double>(s.ramp_next(6, kStart + 10 * kMs) - kStart), 12.0 * kMs, 1.0);
  EXPECT_GT(s.ramp_next(1, kStart + 5 * kMs), kStart + 5 * kMs);  // never in the past
}

// The connect ramp driven by a timer that fires exactly at each deadline
// (the worst case for rounding): it never re-arms for the same instant, and
// every connection starts, on schedule, within one turn per connection.
TEST(Ramp, ATimerFiringExactlyOnTimeStartsEveryConnection) {
  for (double rate : {20000.0, 3000.0, 7.0e6 / 3.0}) {
    const double per_ns = rate / 1e9;
    const uint32_t total = 10000;
    int64_t elapsed = 0;
    uint32_t started = 0;
    int turns = 0;
    while (started < total && turns < 2 * static_cast<int>(total)) {
      started = std::max(started, ramp_due(elapsed, per_ns, total));
      if (started == total) break;
      int64_t next = ramp_next_ns(started, per_ns, elapsed);
      ASSERT_GT(next, elapsed) << "rate " << rate << ", " << started << " started";
      elapsed = next;
      ++turns;
    }
    EXPECT_EQ(started, total) << "rate " << rate;
    // The last one is due at (total - 1) / rate, give or take a nanosecond.
    EXPECT_NEAR(static_cast<double>(elapsed), (total - 1) / per_ns, 2.0) << "rate " << rate;
  }
}

}  // namespace
}  // namespace cb::loadgen
