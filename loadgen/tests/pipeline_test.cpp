// pipeline_test.cpp: the write pipeline's bookkeeping without a socket: the
// ring wraps, gather() lays out exactly the unsent bytes, and a write cut
// anywhere resumes at the right byte.
#include "loadgen/pipeline.h"

#include <gtest/gtest.h>

#include <string>

namespace cb::loadgen {
namespace {

LoadConfig two_paths() {
  LoadConfig c;
  c.proto = Proto::kHttp;
  c.paths = {{"/a", 1}, {"/bb", 1}};
  return c;
}

// Everything gather() would write now, as one string.
std::string unsent_bytes(const Pipeline& p, const RequestSet& set) {
  iovec iov[8];
  int n = p.gather(set, iov, 8);
  std::string all;
  for (int k = 0; k < n; ++k) all.append(static_cast<const char*>(iov[k].iov_base), iov[k].iov_len);
  return all;
}

TEST(Pipeline, QueuesAnswersAndWrapsAroundTheRing) {
  InFlight ring[3];
  Pipeline p;
  p.attach(ring, 3);
  for (int round = 0; round < 5; ++round) {
    p.push().request = static_cast<uint32_t>(round);
    p.push().request = static_cast<uint32_t>(round + 100);
    EXPECT_FALSE(p.full());
    EXPECT_EQ(p.oldest().request, static_cast<uint32_t>(round));
    EXPECT_EQ(p.at(1).request, static_cast<uint32_t>(round + 100));
    p.pop();
    p.pop();
  }
  EXPECT_EQ(p.inflight(), 0u);
  EXPECT_EQ(p.sent_on_conn(), 10u);
  p.clear();
  EXPECT_EQ(p.sent_on_conn(), 0u);
}

TEST(Pipeline, AWriteCutAtEveryByteResumesWhereItStopped) {
  LoadConfig c = two_paths();
  RequestSet set(c);
  const std::string whole =
      std::string(set.request(0)) + std::string(set.request(1)) + std::string(set.request(0));
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    InFlight ring[4];
    Pipeline p;
    p.attach(ring, 4);
    for (uint32_t r : {0u, 1u, 0u}) p.push().request = r;
    ASSERT_EQ(unsent_bytes(p, set), whole);
    iovec iov[8];
    int n = p.gather(set, iov, 8);
    bool complete_requests = p.advance(iov, n, cut);
    EXPECT_EQ(unsent_bytes(p, set), whole.substr(cut)) << "cut " << cut;
    bool on_boundary = cut == 0 || cut == set.request(0).size() ||
                       cut == set.request(0).size() + set.request(1).size() || cut == whole.size();
    EXPECT_EQ(complete_requests, on_boundary) << "cut " << cut;
    n = p.gather(set, iov, 8);
    EXPECT_TRUE(p.advance(iov, n, whole.size() - cut));
    EXPECT_EQ(p.unsent(), 0u);
    EXPECT_EQ(p.inflight(), 3u);
    EXPECT_FALSE(p.all_unwritten());
  }
}

TEST(Pipeline, GatherTakesAtMostMaxAndOnlyTheUnsent) {
  LoadConfig c = two_paths();
  RequestSet set(c);
  InFlight ring[4];
  Pipeline p;
  p.attach(ring, 4);
  EXPECT_TRUE(p.all_unwritten());
  p.push().request = 0;
  iovec iov[4];
  int n = p.gather(set, iov, 4);
  p.advance(iov, n, iov[0].iov_len);  // the first is written whole
  p.push().request = 1;
  p.push().request = 1;
  EXPECT_EQ(p.unsent(), 2u);
  n = p.gather(set, iov, 1);
  ASSERT_EQ(n, 1);
  EXPECT_EQ(iov[0].iov_len, set.request(1).size());
  EXPECT_EQ(unsent_bytes(p, set), std::string(set.request(1)) + std::string(set.request(1)));
}

}  // namespace
}  // namespace cb::loadgen
