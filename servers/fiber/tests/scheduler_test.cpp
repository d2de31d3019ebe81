// scheduler_test.cpp: run queue order, yield, park/wake, sleep and fd waits
// with timeouts, stop (by call and by the stop fd), exceptions, stack reuse
// and ten thousand fibers at once.
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/fd.h"
#include "fiber/scheduler.h"

namespace cb::fiber {
namespace {

using namespace std::chrono_literals;

Scheduler::Options small_options() {
  Scheduler::Options o;
  o.stack_bytes = 64 * 1024;
#if defined(CB_ASAN)
  o.stack_bytes = 512 * 1024;
#endif
  return o;
}

struct SocketPair {
  SocketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      throw std::runtime_error("socketpair");
    }
    a = Fd(fds[0]);
    b = Fd(fds[1]);
  }
  Fd a, b;
};

TEST(Scheduler, RunsSpawnedFibersInSpawnOrder) {
  Scheduler sched(small_options());
  std::string trace;
  for (char c : std::string("abc")) sched.spawn([&trace, c] { trace += c; });
  EXPECT_EQ(sched.live_fibers(), 3u);
  sched.run();
  EXPECT_EQ(trace, "abc");
  EXPECT_EQ(sched.live_fibers(), 0u);
  EXPECT_EQ(Scheduler::current(), nullptr);
}

TEST(Scheduler, YieldLetsTheOthersRunFirst) {
  Scheduler sched(small_options());
  std::string trace;
  for (char c : std::string("xy")) {
    sched.spawn([&trace, c] {
      for (int i = 0; i < 3; ++i) {
        trace += c;
        yield();
      }
    });
  }
  sched.run();
  EXPECT_EQ(trace, "xyxyxy");
}

TEST(Scheduler, FibersSpawnedByFibersRunToo) {
  Scheduler sched(small_options());
  int ran = 0;
  sched.spawn([&] {
    for (int i = 0; i < 5; ++i) Scheduler::current()->spawn([&] { ++ran; });
  });
  sched.run();
  EXPECT_EQ(ran, 5);
}

TEST(Scheduler, ParkedFiberRunsAgainAfterWake) {
  Scheduler sched(small_options());
  std::string trace;
  Fiber* sleeper = nullptr;
  Wake why = Wake::kTimeout;
  sched.spawn([&] {
    sleeper = sched.running();
    trace += "park ";
    why = sched.park();
    trace += "woken";
  });
  sched.spawn([&] {
    trace += "wake ";
    sched.wake(sleeper);
    sched.wake(sleeper);  // a second wake of a runnable fiber is a no-op
  });
  sched.run();
  EXPECT_EQ(trace, "park wake woken");
  EXPECT_EQ(why, Wake::kReady);
}

TEST(Scheduler, SleepersWakeInDeadlineOrder) {
  Scheduler sched(small_options());
  std::string order;
  const std::array<std::pair<char, int>, 3> sleeps = {{{'c', 30}, {'a', 10}, {'b', 20}}};
  for (auto [name, ms] : sleeps) {
    sched.spawn([&order, name, ms] {
      EXPECT_EQ(sleep_for(std::chrono::milliseconds(ms)), Wake::kTimeout);
      order += name;
    });
  }
  sched.run();
  EXPECT_EQ(order, "abc");
}

TEST(Scheduler, FdWaitWakesWhenThePeerWrites) {
  Scheduler sched(small_options());
  SocketPair p;
  FdWait wait;
  sched.watch(p.a.get(), wait);
  std::string got;
  sched.spawn([&] {
    char buf[16];
    ASSERT_LT(::read(p.a.get(), buf, sizeof buf), 0);  // nothing yet: EAGAIN
    ASSERT_EQ(sched.wait_fd(wait, event::kReadable), Wake::kReady);
    ssize_t n = ::read(p.a.get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.assign(buf, static_cast<std::size_t>(n));
  });
  sched.spawn([&] { ASSERT_EQ(::write(p.b.get(), "hello", 5), 5); });
  sched.run();
  EXPECT_EQ(got, "hello");
}

TEST(Scheduler, FdWaitTimesOutWhenNothingArrives) {
  Scheduler sched(small_options());
  SocketPair p;
  FdWait wait;
  sched.watch(p.a.get(), wait);
  Wake why = Wake::kReady;
  sched.spawn([&] { why = sched.wait_fd(wait, event::kReadable, Clock::now() + 20ms); });
  sched.run();
  EXPECT_EQ(why, Wake::kTimeout);
}

TEST(Scheduler, HangupWakesAWriterToo) {
  Scheduler sched(small_options());
  SocketPair p;
  FdWait wait;
  sched.watch(p.a.get(), wait);
  Wake why = Wake::kTimeout;
  sched.spawn([&] {
    // Fill the send buffer so the writer has to wait.
    std::vector<char> chunk(64 * 1024, 'x');
    while (::write(p.a.get(), chunk.data(), chunk.size()) > 0) {
    }
    why = sched.wait_fd(wait, event::kWritable, Clock::now() + 5s);
  });
  sched.spawn([&] { p.b.reset(); });  // the peer goes away
  sched.run();
  EXPECT_EQ(why, Wake::kReady);
}

TEST(Scheduler, AFiberThatKeepsYieldingDoesNotStarveIo) {
  Scheduler sched(small_options());
  SocketPair p;
  FdWait wait;
  sched.watch(p.a.get(), wait);
  bool got_data = false;
  int spins = 0;
  sched.spawn([&] {
    // Bounded, so a starving scheduler fails the test instead of hanging it.
    while (!got_data && spins < 1'000'000) {
      ++spins;
      yield();
    }
  });
  sched.spawn([&] {
    if (sched.wait_fd(wait, event::kReadable) == Wake::kReady) got_data = true;
  });
  sched.spawn([&] { ASSERT_EQ(::write(p.b.get(), "x", 1), 1); });
  sched.run();
  EXPECT_TRUE(got_data);
  EXPECT_LT(spins, 1'000'000);
}

TEST(Scheduler, RequestStopWakesEveryParkedFiberWithStopping) {
  Scheduler sched(small_options());
  SocketPair p;
  FdWait wait;
  sched.watch(p.a.get(), wait);
  std::vector<Wake> results;
  sched.spawn([&] { results.push_back(sched.wait_fd(wait, event::kReadable)); });
  sched.spawn([&] { results.push_back(sleep_for(1h)); });
  sched.spawn([&] { results.push_back(sched.park()); });
  sched.spawn([&] {
    sched.request_stop();
    results.push_back(sched.park());  // after stop, parking returns at once
  });
  sched.run();
  ASSERT_EQ(results.size(), 4u);
  for (Wake w : results) EXPECT_EQ(w, Wake::kStopping);
}

TEST(Scheduler, StopFdBecomingReadableStops) {
  Fd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_TRUE(stop.valid());
  Scheduler::Options o = small_options();
  o.stop_fd = stop.get();
  Scheduler sched(o);
  int stopped = 0;
  for (int i = 0; i < 10; ++i) {
    sched.spawn([&] {
      if (sleep_for(1h) == Wake::kStopping) ++stopped;
    });
  }
  sched.spawn([&] {
    uint64_t one = 1;
    ASSERT_EQ(::write(stop.get(), &one, sizeof one), 8);
  });
  sched.run();
  EXPECT_EQ(stopped, 10);
  EXPECT_TRUE(sched.stopping());
}

TEST(Scheduler, AThrowingFiberIsCountedAndItsCapturesReleased) {
  Scheduler sched(small_options());
  auto token = std::make_shared<int>(1);
  bool after = false;
  sched.spawn([token] { throw std::runtime_error("boom"); });
  sched.spawn([&] { after = true; });
  EXPECT_EQ(token.use_count(), 2);  // here and in the fiber's callable
  sched.run();
  EXPECT_TRUE(after);
  EXPECT_EQ(sched.failed_fibers(), 1u);
  EXPECT_EQ(token.use_count(), 1);
}

TEST(Scheduler, FinishedFibersReturnTheirStacksToThePool) {
  Scheduler::Options o = small_options();
  o.max_pooled_stacks = 4;
  Scheduler sched(o);
  std::vector<const void*> frames;
  // One after another: each reuses the stack the previous one gave back.
  sched.spawn([&] {
    for (int i = 0; i < 3; ++i) {
      Scheduler::current()->spawn([&] {
        int local = 0;
        frames.push_back(&local);
      });
      yield();
    }
  });
  sched.run();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], frames[1]);
  EXPECT_EQ(frames[1], frames[2]);
  EXPECT_EQ(sched.stacks().free_count(), 2u);
}

TEST(Scheduler, TenThousandParkedFibersAllWake) {
#if defined(CB_TSAN)
  constexpr int kFibers = 2'000;  // TSan: a thread's worth of mappings per fiber
#else
  constexpr int kFibers = 10'000;
#endif
  Scheduler sched(small_options());
  std::vector<Fiber*> parked;
  int woken = 0;
  for (int i = 0; i < kFibers; ++i) {
    sched.spawn([&] {
      parked.push_back(sched.running());
      if (sched.park() == Wake::kReady) ++woken;
    });
  }
  sched.spawn([&] {
    for (Fiber* f : parked) sched.wake(f);
  });
  sched.run();
  EXPECT_EQ(parked.size(), static_cast<std::size_t>(kFibers));
  EXPECT_EQ(woken, kFibers);
}

}  // namespace
}  // namespace cb::fiber
