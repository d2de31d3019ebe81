// reply_queue_test.cpp: unit tests of the delay service's per-connection
// reply queue (servers/backend/reply_queue.*): the ordering rule (a reply
// leaves once it and all before it are due) and the gathered bytes, exact
// whatever size each write turns out to be. Run:
//   ctest --test-dir build-backend -R ReplyQueue
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <string>

#include "backend/reply_queue.h"
#include "protocol/backend_frame.h"

namespace cb::backend {
namespace {

using std::chrono::milliseconds;

// Writes what the queue gathers, at most `per_write` bytes at a time, as a
// socket that accepts only part of each writev would. Returns the bytes.
std::string drain(ReplyQueue& q, std::size_t per_write, std::size_t* completed = nullptr) {
  std::string out;
  while (q.has_output()) {
    std::array<iovec, 8> iov;
    std::array<ReplyHeader, 4> headers;
    std::size_t n = q.gather(iov, headers);
    std::string batch;
    for (std::size_t i = 0; i < n; ++i) batch.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    batch.resize(std::min(batch.size(), per_write));
    out += batch;
    std::size_t done = q.consume(batch.size());
    if (completed != nullptr) *completed += done;
  }
  return out;
}

TEST(ReplyQueue, ALaterShortDelayWaitsForAnEarlierLongOne) {
  ReplyQueue q;
  Clock::time_point t0{};
  q.push(t0 + milliseconds(5), 1, 3);
  q.push(t0, 2, 0);
  q.push(t0 + milliseconds(1), 3, 1);
  q.release_due(t0 + milliseconds(4));
  EXPECT_FALSE(q.has_output());
  ASSERT_TRUE(q.next_due().has_value());
  EXPECT_EQ(*q.next_due(), t0 + milliseconds(5));
  q.release_due(t0 + milliseconds(5));
  EXPECT_FALSE(q.next_due().has_value());
  EXPECT_EQ(drain(q, 1 << 20),
            proto::encode_reply(1, 3) + proto::encode_reply(2, 0) + proto::encode_reply(3, 1));
  EXPECT_TRUE(q.empty());
}

TEST(ReplyQueue, ReleaseStopsAtTheFirstReplyNotDue) {
  ReplyQueue q;
  Clock::time_point t0{};
  q.push(t0, 1, 2);
  q.push(t0 + milliseconds(3), 2, 2);
  q.push(t0, 3, 2);
  q.release_due(t0);
  EXPECT_EQ(drain(q, 1 << 20), proto::encode_reply(1, 2));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(*q.next_due(), t0 + milliseconds(3));
}

TEST(ReplyQueue, EveryWriteSizeGivesTheExactBytes) {
  std::string want;
  for (uint32_t size : {0u, 1u, 4096u, 70000u, 0u, 27u}) want += proto::encode_reply(size + 1, size);
  for (std::size_t per_write : {1u, 5u, 12u, 13u, 4108u, 65536u, 1u << 20}) {
    ReplyQueue q;
    for (uint32_t size : {0u, 1u, 4096u, 70000u, 0u, 27u}) q.push(Clock::time_point{}, size + 1, size);
    q.release_due(Clock::time_point{});
    std::size_t completed = 0;
    EXPECT_EQ(drain(q, per_write, &completed), want) << per_write;
    EXPECT_EQ(completed, 6u);
    EXPECT_TRUE(q.empty());
  }
}

TEST(ReplyQueue, LongRunsStayInOrderAcrossCompaction) {
  ReplyQueue q;
  std::string want, got;
  Clock::time_point t{};
  for (uint32_t i = 0; i < 3000; ++i) {
    q.push(t, i, i % 40);
    want += proto::encode_reply(i, i % 40);
    if (i % 7 == 0) {  // drain part of the time, so the queue never empties
      q.release_due(t);
      got += drain(q, 100);
      q.push(t + milliseconds(1), 100000 + i, 1);
      want += proto::encode_reply(100000 + i, 1);
      t += milliseconds(1);
    }
  }
  q.release_due(t);
  got += drain(q, 333);
  EXPECT_EQ(got, want);
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace cb::backend
