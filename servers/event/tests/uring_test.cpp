// uring_test.cpp: unit tests of the io_uring pieces behind reactor:uring: the
// loop (completions and timers) and provided buffers. Skipped where io_uring
// is unavailable. The model's accepting, multishot and single-shot, is
// tested whole (conformance.reactor:uring and its -singleshot twin).
#include "event/uring.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/counters.h"
#include "common/socket.h"
#include "common/status.h"

namespace cb::event {
namespace {

using namespace std::chrono_literals;

struct Completion {
  uint64_t data;
  int res;
  uint32_t flags;
};

// Records every completion the loop hands over.
struct Recorder {
  void on_completion(uint64_t data, int res, uint32_t flags) { seen.push_back({data, res, flags}); }
  std::vector<Completion> seen;
};

class Uring : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!uring_supported(&why)) GTEST_SKIP() << "io_uring unavailable: " << why;
  }
};

TEST_F(Uring, DeliversCompletionsWithTheirUserData) {
  UringLoop loop(8);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  Fd r(fds[0]), w(fds[1]);
  loop.post(42, [&](io_uring_sqe* s) { io_uring_prep_poll_add(s, r.get(), POLLIN); });
  Recorder rec;
  loop.run_once(0ns, rec);  // submits; nothing is ready yet
  EXPECT_TRUE(rec.seen.empty());
  ASSERT_EQ(::write(w.get(), "x", 1), 1);
  while (rec.seen.empty()) loop.run_once(-1ns, rec);
  ASSERT_EQ(rec.seen.size(), 1u);
  EXPECT_EQ(rec.seen[0].data, 42u);
  EXPECT_TRUE(rec.seen[0].res & POLLIN);
}

// try_post (reactor:uring's file reads) never fails on a merely full
// submission queue: it submits what is queued and takes a fresh entry. Reads
// of a file, three times the ring's size, all land byte-exact.
TEST_F(Uring, TryPostSubmitsAFullQueueAndReadsAFile) {
  constexpr unsigned kEntries = 8, kReads = 3 * kEntries, kChunk = 1000;
  char path[] = "/tmp/cb-uring-read-XXXXXX";
  Fd file(::mkstemp(path));
  ASSERT_TRUE(file);
  ::unlink(path);
  std::string data;
  for (unsigned i = 0; i < kReads * kChunk; ++i) data.push_back(static_cast<char>('a' + i % 23));
  ASSERT_EQ(::write(file.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  UringLoop loop(kEntries);
  std::string got(data.size(), '\0');
  for (unsigned i = 0; i < kReads; ++i) {
    ASSERT_TRUE(loop.try_post(100 + i, [&](io_uring_sqe* s) {
      io_uring_prep_read(s, file.get(), got.data() + i * kChunk, kChunk, i * kChunk);
    })) << "read " << i;
  }
  Recorder rec;
  for (int turns = 0; rec.seen.size() < kReads && turns < 1000; ++turns) loop.run_once(100ms, rec);
  ASSERT_EQ(rec.seen.size(), kReads);
  for (const Completion& c : rec.seen) {
    EXPECT_GE(c.data, 100u);
    EXPECT_EQ(c.res, static_cast<int>(kChunk)) << "read " << c.data - 100;
  }
  EXPECT_TRUE(got == data);
}

TEST_F(Uring, FiresTimersWithoutCompletions) {
  UringLoop loop(8);
  struct Probe : Handler {
    int calls = 0;
  } probe;
  probe.on_event = [](Handler* h, uint32_t events) {
    EXPECT_EQ(events, kTimer);
    ++static_cast<Probe*>(h)->calls;
  };
  Timer early, late;
  early.handler = late.handler = &probe;
  loop.arm(&late, Clock::now() + 50ms);
  loop.arm(&early, Clock::now() + 1ms);
  Recorder rec;
  loop.run_once(-1ns, rec);  // returns once the first timer is due
  EXPECT_EQ(probe.calls, 1);
  loop.cancel(&late);
  loop.run_once(100ms, rec);  // nothing left: waits the full limit, fires nothing
  EXPECT_EQ(probe.calls, 1);
  EXPECT_TRUE(rec.seen.empty());
}

TEST_F(Uring, ReceivesIntoProvidedBuffersAndReusesThem) {
  UringLoop loop(8);
  ProvidedBuffers buffers(loop.ring(), 3, 2, 64);  // two buffers only
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  Recorder rec;
  for (int round = 0; round < 5; ++round) {  // more rounds than buffers
    std::string msg = fmt::format("round {}", round);
    ASSERT_EQ(::write(b.get(), msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
    loop.post(7, [&](io_uring_sqe* s) {
      io_uring_prep_recv(s, a.get(), nullptr, 0, 0);
      s->flags |= IOSQE_BUFFER_SELECT;
      s->buf_group = 3;
    });
    rec.seen.clear();
    while (rec.seen.empty()) loop.run_once(-1ns, rec);
    ASSERT_EQ(rec.seen[0].res, static_cast<int>(msg.size())) << "round " << round;
    ASSERT_TRUE(rec.seen[0].flags & IORING_CQE_F_BUFFER);
    auto bid = static_cast<uint16_t>(rec.seen[0].flags >> IORING_CQE_BUFFER_SHIFT);
    EXPECT_EQ(std::string(buffers.data(bid), msg.size()), msg);
    buffers.give_back(bid);
  }
}

}  // namespace
}  // namespace cb::event
