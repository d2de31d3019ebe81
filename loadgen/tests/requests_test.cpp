// requests_test.cpp: what a connection sends: the prebuilt request bytes,
// the echo payload, and the weighted choice of the next request.
#include "loadgen/requests.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace cb::loadgen {
namespace {

TEST(EchoPayload, IsDeterministicAndVaried) {
  std::string a = make_echo_payload(4096), b = make_echo_payload(4096);
  EXPECT_EQ(a, b);
  EXPECT_NE(a.substr(0, 64), a.substr(64, 64));  // a shifted stream would not match
}

TEST(RequestSet, BuildsHttpRequestsPerPath) {
  LoadConfig c;
  c.proto = Proto::kHttp;
  c.host = "127.0.0.1";
  c.port = 8080;
  c.paths = {{"/a", 1}, {"/b", 3}};
  c.close_after_request = true;
  RequestSet set(c);
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set.request(1), "GET /b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n");
  c.host = "::1";
  c.close_after_request = false;
  EXPECT_EQ(RequestSet(c).request(0), "GET /a HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
}

TEST(RequestPicker, OneOrNoChoiceIsAlwaysTheFirst) {
  for (const std::vector<uint32_t>& weights : {std::vector<uint32_t>{}, {7}}) {
    RequestPicker picker(weights);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(picker.next(), 0u);
  }
}

TEST(RequestPicker, PicksInProportionToTheWeights) {
  RequestPicker picker({1, 3, 6});
  std::array<int, 3> seen{};
  constexpr int kPicks = 100'000;
  for (int i = 0; i < kPicks; ++i) {
    uint32_t k = picker.next();
    ASSERT_LT(k, 3u);
    ++seen[k];
  }
  EXPECT_NEAR(seen[0], kPicks * 0.1, kPicks * 0.01);
  EXPECT_NEAR(seen[1], kPicks * 0.3, kPicks * 0.01);
  EXPECT_NEAR(seen[2], kPicks * 0.6, kPicks * 0.01);
}

TEST(RequestPicker, IsDeterministicPerStreamAndStreamsDiffer) {
  RequestPicker a({1, 1}, 0), b({1, 1}, 0), c({1, 1}, 1);
  std::vector<uint32_t> sa, sb, sc;
  for (int i = 0; i < 64; ++i) {
    sa.push_back(a.next());
    sb.push_back(b.next());
    sc.push_back(c.next());
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(RequestPicker, ForThreadUsesThePathsOfHttpOnly) {
  LoadConfig c;
  c.paths = {{"/a", 1}, {"/b", 1}};
  c.proto = Proto::kEcho;
  RequestPicker echo = RequestPicker::for_thread(c, 0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(echo.next(), 0u);
  c.proto = Proto::kHttp;
  RequestPicker http = RequestPicker::for_thread(c, 3);
  std::array<int, 2> seen{};
  for (int i = 0; i < 1000; ++i) ++seen[http.next()];
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[1], 0);
}

}  // namespace
}  // namespace cb::loadgen
