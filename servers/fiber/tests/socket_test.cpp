// socket_test.cpp: fiber::Socket as the Stream of the shared session loop:
// fifty echo sessions and their clients as fibers of one scheduler sharing
// one scratch buffer, writes that park until the peer reads, the read
// timeout, stop ending a blocked read, and fiber::Listener parking an
// accepting fiber.
#include <sys/socket.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/counters.h"
#include "common/socket.h"
#include "fiber/scheduler.h"
#include "fiber/socket.h"
#include "protocol/echo.h"
#include "session/acceptor.h"
#include "session/session.h"

namespace cb::fiber {
namespace {

using namespace std::chrono_literals;

Scheduler::Options options() {
  Scheduler::Options o;
#if defined(CB_ASAN)
  o.stack_bytes = 512 * 1024;
#endif
  return o;
}

std::pair<Fd, Fd> socket_pair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  return {Fd(fds[0]), Fd(fds[1])};
}

std::string payload(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7) % 251);
  return s;
}

// Writes all of `bytes`, parking as needed.
bool write_all(Socket& s, std::string_view bytes) {
  while (!bytes.empty()) {
    IoResult r = s.write(bytes);
    if (!r.ok()) return false;
    bytes.remove_prefix(r.bytes);
  }
  return true;
}

std::string read_exact(Socket& s, std::size_t n) {
  std::string got;
  char buf[4096];
  while (got.size() < n) {
    IoResult r = s.read(std::span<char>(buf, std::min(sizeof buf, n - got.size())));
    if (!r.ok()) break;
    got.append(buf, r.bytes);
  }
  return got;
}

TEST(FiberSocket, FiftyEchoSessionsShareOneScratchBuffer) {
  constexpr int kSessions = 50;
  constexpr std::size_t kBytes = 200'000;  // several socket buffers' worth
  Counters counters;
  Scheduler sched(options());
  std::vector<char> scratch(16 * 1024);
  int matched = 0;
  for (int i = 0; i < kSessions; ++i) {
    auto [server_end, client_end] = socket_pair();
    sched.spawn([&, fd = std::move(server_end)]() mutable {
      Socket s(std::move(fd), sched);
      ASSERT_TRUE(s.attach());
      proto::EchoProtocol echo(counters.block());
      run_session(s, echo, std::span<char>(scratch), counters.block());
    });
    sched.spawn([&, i, fd = std::move(client_end)]() mutable {
      Socket s(std::move(fd), sched);
      ASSERT_TRUE(s.attach());
      std::string data = payload(kBytes, static_cast<unsigned>(i));
      std::string got;
      // Write and read in turns so neither side's buffers fill for good.
      for (std::size_t at = 0; at < data.size(); at += 10'000) {
        std::string_view piece = std::string_view(data).substr(at, 10'000);
        ASSERT_TRUE(write_all(s, piece));
        got += read_exact(s, piece.size());
      }
      ::shutdown(s.fd(), SHUT_WR);
      if (got == data) ++matched;
    });
  }
  sched.run();
  EXPECT_EQ(matched, kSessions);
  EXPECT_EQ(counters->bytes_in.load(), kSessions * kBytes);
  EXPECT_EQ(counters->bytes_out.load(), kSessions * kBytes);
}

TEST(FiberSocket, AWriteBiggerThanTheBufferParksUntilThePeerReads) {
  constexpr std::size_t kBytes = 4 << 20;
  Scheduler sched(options());
  auto [a, b] = socket_pair();
  std::string data = payload(kBytes, 9);
  std::string got;
  sched.spawn([&, fd = std::move(a)]() mutable {
    Socket s(std::move(fd), sched);
    ASSERT_TRUE(s.attach());
    ASSERT_TRUE(write_all(s, data));
  });
  sched.spawn([&, fd = std::move(b)]() mutable {
    Socket s(std::move(fd), sched);
    ASSERT_TRUE(s.attach());
    got = read_exact(s, kBytes);
  });
  sched.run();
  EXPECT_TRUE(got == data);
}

TEST(FiberSocket, ReadTimeoutReturnsRetry) {
  Scheduler sched(options());
  auto [a, b] = socket_pair();
  IoResult r;
  sched.spawn([&, fd = std::move(a)]() mutable {
    Socket s(std::move(fd), sched);
    ASSERT_TRUE(s.attach());
    s.set_read_timeout(20ms);
    char buf[8];
    r = s.read(buf);
  });
  sched.run();
  EXPECT_EQ(r.status, IoStatus::kRetry);
  EXPECT_EQ(r.error, ETIMEDOUT);
}

TEST(FiberSocket, StopEndsABlockedReadAsClosed) {
  Scheduler sched(options());
  auto [a, b] = socket_pair();
  IoResult r;
  sched.spawn([&, fd = std::move(a)]() mutable {
    Socket s(std::move(fd), sched);
    ASSERT_TRUE(s.attach());
    char buf[8];
    r = s.read(buf);
  });
  sched.spawn([&] { sched.request_stop(); });
  sched.run();
  EXPECT_EQ(r.status, IoStatus::kClosed);
  EXPECT_EQ(r.error, ECANCELED);
}

TEST(FiberSocket, AfterStopReadsEndEvenWithDataWaiting) {
  Scheduler sched(options());
  auto [a, b] = socket_pair();
  ASSERT_EQ(::write(b.get(), "more", 4), 4);
  IoResult r;
  sched.spawn([&, fd = std::move(a)]() mutable {
    Socket s(std::move(fd), sched);
    ASSERT_TRUE(s.attach());
    sched.request_stop();
    char buf[8];
    r = s.read(buf);
  });
  sched.run();
  EXPECT_EQ(r.status, IoStatus::kClosed);
  EXPECT_EQ(r.error, ECANCELED);
}

// After a short read the next read parks without trying; data written
// later must still wake it.
TEST(FiberSocket, DataAfterAShortReadWakesTheParkedReader) {
  Scheduler sched(options());
  auto [a, b] = socket_pair();
  ASSERT_EQ(::write(b.get(), "first", 5), 5);
  std::string got;
  sched.spawn([&, fd = std::move(a)]() mutable {
    Socket s(std::move(fd), sched);
    ASSERT_TRUE(s.attach());
    s.set_read_timeout(5s);  // a lost wakeup fails the test instead of hanging it
    char buf[64];
    for (int i = 0; i < 2; ++i) {
      IoResult r = s.read(buf);
      ASSERT_TRUE(r.ok()) << "read " << i;
      got.append(buf, r.bytes);
    }
  });
  sched.spawn([&] {
    sleep_for(10ms);  // the reader has drained "first" and parked by now
    ASSERT_EQ(::write(b.get(), "second", 6), 6);
  });
  sched.run();
  EXPECT_EQ(got, "firstsecond");
}

// Data and end of stream reported by one edge: the short read takes the
// data, and the next read must still see the end, not park forever.
TEST(FiberSocket, EndOfStreamInTheSameEdgeAsTheDataIsNotLost) {
  Scheduler sched(options());
  auto [a, b] = socket_pair();
  std::vector<IoResult> results;
  sched.spawn([&, fd = std::move(a)]() mutable {
    Socket s(std::move(fd), sched);
    ASSERT_TRUE(s.attach());
    s.set_read_timeout(5s);
    char buf[64];
    for (int i = 0; i < 3; ++i) {
      results.push_back(s.read(buf));
      if (!results.back().ok()) break;
    }
  });
  sched.spawn([&] {
    sleep_for(10ms);  // the reader is parked: both arrive as one edge
    ASSERT_EQ(::write(b.get(), "last words", 10), 10);
    ::shutdown(b.get(), SHUT_WR);
  });
  sched.run();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].bytes, 10u);
  EXPECT_EQ(results[1].status, IoStatus::kClosed);
  EXPECT_EQ(results[1].error, 0);
}

TEST(FiberListener, ParksUntilConnectionsQueueThenStops) {
  ListenOptions lo;
  lo.nonblocking = true;
  Fd listener = listen_tcp(lo);
  uint16_t port = local_port(listener.get());
  CounterBlock counters{};
  Scheduler sched(options());
  int accepted = 0;
  bool stopped = false;
  sched.spawn([&] {
    Listener l(listener.get(), sched);
    Acceptor acceptor(l.fd(), counters);
    auto admit = [&](Fd fd) {
      EXPECT_TRUE(fd.valid());
      ++accepted;
    };
    while (acceptor.accept_batch(admit) != AcceptNext::kWait || l.wait_readable()) {
    }
    stopped = true;
  });
  std::vector<Fd> clients;
  sched.spawn([&] {
    // Runs once the listener fiber has found the queue empty and parked.
    for (int i = 0; i < 3; ++i) clients.push_back(connect_tcp("127.0.0.1", port));
    sleep_for(10ms);
    sched.request_stop();
  });
  sched.run();
  EXPECT_EQ(accepted, 3);
  EXPECT_EQ(counters.connections_accepted.load(), 3u);
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace cb::fiber
