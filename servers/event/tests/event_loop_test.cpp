// event_loop_test.cpp: unit tests of the timer heap, the EventLoop and each
// poller backend (epoll level/edge/one-shot, poll, select), on pipes.
// Every backend runs the same typed tests; trigger-specific ones follow.
#include "event/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "event/epoll_poller.h"
#include "event/poll_poller.h"
#include "event/select_poller.h"

namespace cb::event {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
constexpr nanoseconds kNoWait{0};

struct Pipe {
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw SysError("pipe2", errno);
    read_end = Fd(fds[0]);
    write_end = Fd(fds[1]);
  }
  void put(const std::string& bytes) const {
    ASSERT_EQ(::write(write_end.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  std::string drain() const {
    std::string got;
    char buf[256];
    ssize_t n;
    while ((n = ::read(read_end.get(), buf, sizeof buf)) > 0)
      got.append(buf, static_cast<std::size_t>(n));
    return got;
  }
  Fd read_end, write_end;
};

// A handler that records what it was told.
struct Probe : Handler {
  Probe() : Handler{&Probe::record} {}
  static void record(Handler* h, uint32_t events) {
    auto* p = static_cast<Probe*>(h);
    ++p->calls;
    p->last = events;
  }
  int calls = 0;
  uint32_t last = 0;
};

// ---- TimerHeap ----------------------------------------------------------

TEST(TimerHeap, PopsInDeadlineOrderAndHonoursCancel) {
  TimerHeap heap;
  Clock::time_point t0{};
  std::vector<Timer> timers(50);
  std::vector<int> order(50);
  for (int i = 0; i < 50; ++i) order[static_cast<std::size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  for (std::size_t i = 0; i < 50; ++i) heap.arm(&timers[i], t0 + milliseconds(order[i]));
  // Cancel every third, re-arm one far away: neither may come out in place.
  for (std::size_t i = 0; i < 50; i += 3) heap.cancel(&timers[i]);
  heap.arm(&timers[1], t0 + milliseconds(1000));
  std::vector<int> popped;
  while (Timer* t = heap.pop_due(t0 + milliseconds(999))) {
    EXPECT_FALSE(t->armed());
    popped.push_back(static_cast<int>((t->deadline - t0) / milliseconds(1)));
  }
  EXPECT_TRUE(std::is_sorted(popped.begin(), popped.end()));
  EXPECT_EQ(popped.size(), 50u - 17u - 1u);
  EXPECT_FALSE(heap.empty());
  EXPECT_EQ(heap.pop_due(t0 + milliseconds(1000)), &timers[1]);
  EXPECT_TRUE(heap.empty());
}

// ---- every backend ------------------------------------------------------

template <class Backend>
struct Make;
template <>
struct Make<EpollPoller> {
  static EventLoop<EpollPoller>* loop() {
    return new EventLoop<EpollPoller>(EpollPoller::Trigger::kLevel);
  }
};
template <>
struct Make<PollPoller> {
  static EventLoop<PollPoller>* loop() { return new EventLoop<PollPoller>(); }
};
template <>
struct Make<SelectPoller> {
  static EventLoop<SelectPoller>* loop() { return new EventLoop<SelectPoller>(); }
};

template <class Backend>
class LevelLoop : public ::testing::Test {
 protected:
  std::unique_ptr<EventLoop<Backend>> loop_{Make<Backend>::loop()};
};

using Backends = ::testing::Types<EpollPoller, PollPoller, SelectPoller>;
TYPED_TEST_SUITE(LevelLoop, Backends);

TYPED_TEST(LevelLoop, ReportsReadableUntilDrained) {
  Pipe p;
  Probe probe;
  this->loop_->watch(p.read_end.get(), kReadable, &probe);
  EXPECT_EQ(this->loop_->run_once(kNoWait), 0);
  p.put("abc");
  EXPECT_EQ(this->loop_->run_once(kNoWait), 1);
  EXPECT_EQ(probe.last, kReadable);
  // Level-triggered: still unread, so reported again.
  EXPECT_EQ(this->loop_->run_once(kNoWait), 1);
  EXPECT_EQ(p.drain(), "abc");
  EXPECT_EQ(this->loop_->run_once(kNoWait), 0);
  EXPECT_EQ(probe.calls, 2);
}

TYPED_TEST(LevelLoop, ModifySwitchesInterestAndUnwatchSilences) {
  Pipe p;
  Probe probe;
  this->loop_->watch(p.write_end.get(), kReadable, &probe);
  EXPECT_EQ(this->loop_->run_once(kNoWait), 0);  // a pipe's write end is never readable
  this->loop_->modify(p.write_end.get(), kWritable, &probe);
  EXPECT_EQ(this->loop_->run_once(kNoWait), 1);
  EXPECT_EQ(probe.last & kWritable, kWritable);
  this->loop_->unwatch(p.write_end.get());
  EXPECT_EQ(this->loop_->run_once(kNoWait), 0);
  this->loop_->unwatch(p.write_end.get());  // twice is harmless
  EXPECT_EQ(probe.calls, 1);
}

TYPED_TEST(LevelLoop, PeerCloseIsReadable) {
  Pipe p;
  Probe probe;
  this->loop_->watch(p.read_end.get(), kReadable, &probe);
  p.write_end.reset();
  EXPECT_EQ(this->loop_->run_once(kNoWait), 1);
  EXPECT_EQ(probe.last & kReadable, kReadable);
  char c;
  EXPECT_EQ(::read(p.read_end.get(), &c, 1), 0);  // the owner sees EOF
}

TYPED_TEST(LevelLoop, EachHandlerGetsItsOwnFd) {
  std::vector<Pipe> pipes(3);
  std::vector<Probe> probes(3);
  for (std::size_t i = 0; i < 3; ++i)
    this->loop_->watch(pipes[i].read_end.get(), kReadable, &probes[i]);
  this->loop_->unwatch(pipes[0].read_end.get());  // poll moves the last entry into the hole
  pipes[0].put("x");
  pipes[2].put("z");
  EXPECT_EQ(this->loop_->run_once(kNoWait), 1);
  EXPECT_EQ(probes[0].calls, 0);
  EXPECT_EQ(probes[1].calls, 0);
  EXPECT_EQ(probes[2].calls, 1);
}

// More fds ready than one wait returns (256): nobody may starve.
TYPED_TEST(LevelLoop, ServesEveryReadyFdWhenMoreThanOneBatchIsReady) {
  constexpr std::size_t kPipes = 400;
  std::vector<Pipe> pipes(kPipes);
  std::vector<Probe> probes(kPipes);
  for (std::size_t i = 0; i < kPipes; ++i) {
    this->loop_->watch(pipes[i].read_end.get(), kReadable, &probes[i]);
    pipes[i].put("x");
  }
  int first = this->loop_->run_once(kNoWait);
  int second = this->loop_->run_once(kNoWait);
  EXPECT_EQ(first, 256);
  EXPECT_GE(first + second, static_cast<int>(kPipes));
  for (std::size_t i = 0; i < kPipes; ++i) EXPECT_GE(probes[i].calls, 1) << "pipe " << i;
}

TYPED_TEST(LevelLoop, TimersFireInOrderAndCancelHolds) {
  Probe a, b, c;
  Timer ta, tb, tc;
  ta.handler = &a;
  tb.handler = &b;
  tc.handler = &c;
  this->loop_->refresh_now();
  this->loop_->arm_after(&tb, milliseconds(20));
  this->loop_->arm_after(&ta, milliseconds(5));
  this->loop_->arm_after(&tc, milliseconds(10));
  this->loop_->cancel(&tc);
  this->loop_->run_once();  // waits for the first timer, however long that takes
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(a.last, kTimer);
  while (b.calls == 0) this->loop_->run_once();
  EXPECT_EQ(c.calls, 0);
  EXPECT_FALSE(tb.armed());
}

// A handler that re-arms its timer for a moment already past must not hold
// run_once forever (the clock only moves between turns): it fires once per turn.
TYPED_TEST(LevelLoop, ATimerReArmedInThePastFiresOncePerTurn) {
  struct Rearmer : Handler {
    EventLoop<TypeParam>* loop;
    Timer* timer;
    int calls = 0;
  } r{{[](Handler* h, uint32_t) {
        auto* self = static_cast<Rearmer*>(h);
        ++self->calls;
        self->loop->arm(self->timer, self->loop->now() - milliseconds(1));
      }},
      this->loop_.get(), nullptr};
  Timer t;
  t.handler = &r;
  r.timer = &t;
  this->loop_->refresh_now();
  this->loop_->arm(&t, this->loop_->now());
  this->loop_->run_once();
  EXPECT_EQ(r.calls, 1);
  this->loop_->run_once();
  EXPECT_EQ(r.calls, 2);
  this->loop_->cancel(&t);
}

TYPED_TEST(LevelLoop, StopEndsRun) {
  struct Stopper : Handler {
    EventLoop<TypeParam>* loop;
  } stopper{{[](Handler* h, uint32_t) { static_cast<Stopper*>(h)->loop->stop(); }},
            this->loop_.get()};
  Timer t;
  t.handler = &stopper;
  this->loop_->arm_after(&t, milliseconds(1));
  this->loop_->run();  // returns only because the timer stopped it
  EXPECT_TRUE(this->loop_->stopping());
}

// ---- trigger modes and select's limit -----------------------------------

TEST(EpollEdge, ReportsOnlyNewData) {
  EventLoop<EpollPoller> loop(EpollPoller::Trigger::kEdge);
  Pipe p;
  Probe probe;
  loop.watch(p.read_end.get(), kReadable, &probe);
  p.put("a");
  EXPECT_EQ(loop.run_once(kNoWait), 1);
  EXPECT_EQ(loop.run_once(kNoWait), 0);  // unread, but no new edge
  p.put("b");
  EXPECT_EQ(loop.run_once(kNoWait), 1);
  EXPECT_EQ(p.drain(), "ab");
}

TEST(EpollOneShot, ReportsOnceUntilRearmed) {
  EventLoop<EpollPoller> loop(EpollPoller::Trigger::kOneShot);
  Pipe p;
  Probe probe;
  loop.watch(p.read_end.get(), kReadable, &probe);
  p.put("a");
  EXPECT_EQ(loop.run_once(kNoWait), 1);
  p.put("b");
  EXPECT_EQ(loop.run_once(kNoWait), 0);
  loop.modify(p.read_end.get(), kReadable, &probe);
  EXPECT_EQ(loop.run_once(kNoWait), 1);
}

TEST(SelectPoller, RefusesFdsAtOrAboveFdSetSize) {
  EventLoop<SelectPoller> loop;
  Pipe p;
  // An fd number select cannot represent (the open-file limit here is 20000).
  Fd high(::fcntl(p.read_end.get(), F_DUPFD_CLOEXEC, FD_SETSIZE + 10));
  ASSERT_TRUE(high.valid()) << "open-file limit too low for this test";
  ASSERT_GE(high.get(), FD_SETSIZE);
  Probe probe;
  EXPECT_TRUE(loop.can_watch(FD_SETSIZE - 1));
  EXPECT_FALSE(loop.can_watch(high.get()));
  EXPECT_FALSE(loop.can_watch(FD_SETSIZE));
  EXPECT_THROW(loop.watch(high.get(), kReadable, &probe), SysError);
  EXPECT_THROW(loop.modify(high.get(), kReadable, &probe), SysError);
  loop.unwatch(high.get());  // ignored, never touches the set
  // The loop still works for fds it can hold.
  loop.watch(p.read_end.get(), kReadable, &probe);
  p.put("x");
  EXPECT_EQ(loop.run_once(kNoWait), 1);
  EXPECT_EQ(probe.calls, 1);
}

TEST(EventLoop, EpollAndPollWatchAnyFd) {
  EventLoop<EpollPoller> epoll(EpollPoller::Trigger::kLevel);
  EventLoop<PollPoller> poll;
  EXPECT_TRUE(epoll.can_watch(FD_SETSIZE + 10));
  EXPECT_TRUE(poll.can_watch(FD_SETSIZE + 10));
  EXPECT_FALSE(poll.can_watch(-1));
}

TEST(PollPoller, WatchesHighFds) {
  EventLoop<PollPoller> loop;
  Pipe p;
  Fd high(::fcntl(p.read_end.get(), F_DUPFD_CLOEXEC, FD_SETSIZE + 10));
  ASSERT_TRUE(high.valid());
  Probe probe;
  loop.watch(high.get(), kReadable, &probe);
  EXPECT_THROW(loop.watch(high.get(), kReadable, &probe), SysError);
  p.put("x");
  EXPECT_EQ(loop.run_once(kNoWait), 1);
  EXPECT_EQ(probe.calls, 1);
}

}  // namespace
}  // namespace cb::event
