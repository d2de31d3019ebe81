// connection_state_test.cpp: the connection state machine's rules without a
// socket: when a connection may send, what it waits for next in each state,
// request timeouts, and the reconnect back-off.
#include "loadgen/connection_state.h"

#include <gtest/gtest.h>

#include "loadgen/response_reader.h"

namespace cb::loadgen {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr uint64_t kNoLimit = UINT64_MAX;

struct TestConn {
  TestConn() { c.pipe.attach(ring, 2); }
  InFlight ring[2]{};
  Conn<EchoReader> c;
};

TEST(ConnRules, ClosedLoopSendsWhileThereIsQuota) {
  ConnRules rules{false, false, 0};
  TestConn t;
  EXPECT_TRUE(rules.may_send(t.c, kNoLimit, 0));
  EXPECT_TRUE(rules.may_send(t.c, 1, 0));
  EXPECT_FALSE(rules.may_send(t.c, 0, 0));
}

TEST(ConnRules, OpenLoopSendsOnlyOnceItsSlotIsDue) {
  ConnRules rules{true, false, 0};
  TestConn t;
  EXPECT_FALSE(rules.may_send(t.c, kNoLimit, 5 * kMs));  // schedule not started
  t.c.next_intended_ns = 5 * kMs;
  EXPECT_FALSE(rules.may_send(t.c, kNoLimit, 5 * kMs - 1));
  EXPECT_TRUE(rules.may_send(t.c, kNoLimit, 5 * kMs));
}

TEST(ConnRules, CloseModeSendsOneRequestPerConnection) {
  ConnRules rules{false, true, 0};
  TestConn t;
  EXPECT_TRUE(rules.may_send(t.c, kNoLimit, 0));
  t.c.pipe.push();
  EXPECT_FALSE(rules.may_send(t.c, kNoLimit, 0));
  t.c.pipe.clear();  // a new socket
  EXPECT_TRUE(rules.may_send(t.c, kNoLimit, 0));
}

TEST(ConnRules, TheOldestRequestTimesOut) {
  ConnRules rules{false, false, 10 * kMs};
  TestConn t;
  EXPECT_FALSE(rules.timed_out(t.c, 100 * kMs));  // nothing in flight
  t.c.pipe.push().sent_ns = 1 * kMs;
  t.c.pipe.push().sent_ns = 5 * kMs;
  EXPECT_FALSE(rules.timed_out(t.c, 11 * kMs - 1));
  EXPECT_TRUE(rules.timed_out(t.c, 11 * kMs));
  t.c.pipe.pop();
  EXPECT_FALSE(rules.timed_out(t.c, 11 * kMs));
  EXPECT_FALSE(ConnRules{}.timed_out(t.c, 1000 * kMs));  // no timeout configured
}

TEST(ConnRules, ConnectingWaitsForTheConnectDeadline) {
  TestConn t;
  t.c.state = ConnState::kConnecting;
  t.c.connect_deadline_ns = 7 * kMs;
  EXPECT_EQ(ConnRules{}.next_deadline(t.c, kNoLimit, 0), 7 * kMs);
}

TEST(ConnRules, OpenWaitsForTheEarlierOfTimeoutAndNextSlot) {
  ConnRules rules{true, false, 10 * kMs};
  TestConn t;
  t.c.state = ConnState::kOpen;
  t.c.next_intended_ns = 4 * kMs;
  EXPECT_EQ(rules.next_deadline(t.c, kNoLimit, 0), 4 * kMs);
  t.c.pipe.push().sent_ns = 1 * kMs;
  t.c.next_intended_ns = 20 * kMs;
  EXPECT_EQ(rules.next_deadline(t.c, kNoLimit, 0), 11 * kMs);
  t.c.pipe.push().sent_ns = 2 * kMs;  // full: the next slot must wait for a free one
  t.c.next_intended_ns = 3 * kMs;
  EXPECT_EQ(rules.next_deadline(t.c, kNoLimit, 0), 11 * kMs);
  t.c.pipe.pop();
  EXPECT_EQ(rules.next_deadline(t.c, kNoLimit, 0), 3 * kMs);
  EXPECT_EQ(rules.next_deadline(t.c, 0, 0), 12 * kMs);  // quota spent: only the timeout
}

TEST(ConnRules, OpenClosedLoopWithoutTimeoutWaitsForNothing) {
  TestConn t;
  t.c.state = ConnState::kOpen;
  t.c.pipe.push();
  EXPECT_EQ(ConnRules{}.next_deadline(t.c, kNoLimit, 0), INT64_MAX);
}

TEST(ConnRules, IdleWaitsForItsReconnect) {
  TestConn t;
  ConnRules keep_alive{true, false, 0};
  EXPECT_EQ(keep_alive.next_deadline(t.c, kNoLimit, 5), INT64_MAX);  // nothing planned
  t.c.retry_at_ns = 9 * kMs;
  EXPECT_EQ(keep_alive.next_deadline(t.c, kNoLimit, 5), 9 * kMs);
  EXPECT_EQ(keep_alive.next_deadline(t.c, 0, 5), INT64_MAX);  // quota spent: never again
  // --close: a socket per request, opened when the request is due.
  ConnRules close_open{true, true, 0};
  t.c.next_intended_ns = 12 * kMs;
  EXPECT_EQ(close_open.next_deadline(t.c, kNoLimit, 5), 12 * kMs);
  t.c.retry_at_ns = 15 * kMs;
  EXPECT_EQ(close_open.next_deadline(t.c, kNoLimit, 5), 15 * kMs);
  ConnRules close_closed{false, true, 0};
  t.c.retry_at_ns = 0;
  EXPECT_EQ(close_closed.next_deadline(t.c, kNoLimit, 5), 5);  // at once
}

TEST(ConnRules, BackoffDoublesFrom10msUpTo1s) {
  uint8_t failures = 0;
  int64_t expected[] = {10, 20, 40, 80, 160, 320, 640, 1000, 1000};
  for (int64_t ms : expected) EXPECT_EQ(ConnRules::backoff_ns(failures), ms * kMs);
  EXPECT_EQ(failures, 9u);
  failures = 255;
  EXPECT_EQ(ConnRules::backoff_ns(failures), 1000 * kMs);
  EXPECT_EQ(failures, 255u);  // saturates rather than wrapping to 10 ms
}

}  // namespace
}  // namespace cb::loadgen
