// test_echo.cpp: unit tests of EchoProtocol (servers/protocol/echo.h): every
// byte comes back in order, whatever the chunking, one request counted per
// chunk, and the connection never asks to close. Run:
//   ctest --test-dir build -R 'Echo'
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

#include "common/counters.h"
#include "protocol/echo.h"
#include "protocol/out_queue.h"

namespace cb::proto {
namespace {

std::string take_all(OutQueue& out) {
  std::string s;
  while (!out.empty()) {
    std::string_view bytes = out.front().bytes;
    EXPECT_EQ(out.front().file_fd, -1);
    s += bytes;
    out.consume(bytes.size());
  }
  return s;
}

TEST(Echo, SendsBackExactlyWhatArrives) {
  CounterBlock c{};
  EchoProtocol echo(c);
  OutQueue out;
  echo.on_input("hello", out);
  EXPECT_EQ(take_all(out), "hello");
  EXPECT_EQ(c.requests.load(), 1u);
  EXPECT_FALSE(echo.closing());
}

TEST(Echo, BinaryBytesIncludingNulSurvive) {
  CounterBlock c{};
  EchoProtocol echo(c);
  OutQueue out;
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  echo.on_input(all, out);
  EXPECT_EQ(take_all(out), all);
}

TEST(Echo, ChunksStayInOrderAndEachCountsOnce) {
  CounterBlock c{};
  EchoProtocol echo(c);
  OutQueue out;
  std::mt19937 rng(5);
  std::string sent;
  for (int i = 0; i < 200; ++i) {
    std::string chunk(1 + rng() % 300, '\0');
    for (char& ch : chunk) ch = static_cast<char>(rng() & 0xff);
    sent += chunk;
    echo.on_input(chunk, out);  // all 200 queue up before anything is written
  }
  EXPECT_EQ(take_all(out), sent);
  EXPECT_EQ(c.requests.load(), 200u);
  EXPECT_FALSE(echo.closing());
}

TEST(Echo, QueuedOutputIsOneSegment) {
  CounterBlock c{};
  EchoProtocol echo(c);
  OutQueue out;
  echo.on_input("ab", out);
  echo.on_input("cd", out);
  EXPECT_EQ(out.segment_count(), 1u);
  EXPECT_EQ(out.pending_bytes(), 4u);
}

TEST(Echo, LargeMessageIsEchoedWhole) {
  CounterBlock c{};
  EchoProtocol echo(c);
  OutQueue out;
  std::string big(1 << 20, 'z');
  big[12345] = 'y';
  echo.on_input(big, out);
  EXPECT_TRUE(take_all(out) == big);
  EXPECT_EQ(c.requests.load(), 1u);
}

}  // namespace
}  // namespace cb::proto
