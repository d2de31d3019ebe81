// reader_test.cpp: the response readers (echo verification and the HTTP
// response parser), fed every response split at every byte offset.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loadgen/requests.h"
#include "loadgen/response_reader.h"

namespace cb::loadgen {
namespace {

// Feeds `input` in two pieces split at `split`; returns the responses seen
// and whether the reader refused the input.
template <class Reader>
std::vector<Response> feed_split(Reader& reader, const std::string& payload,
                                 const std::string& input, std::size_t split,
                                 bool* malformed = nullptr) {
  std::vector<Response> out;
  for (std::string piece : {input.substr(0, split), input.substr(split)}) {
    std::size_t at = 0;
    while (at < piece.size()) {
      Response r;
      FeedResult fr = reader.feed(payload, piece.data() + at, piece.size() - at, r);
      at += fr.used;
      if (fr.status == FeedStatus::kMalformed) {
        if (malformed != nullptr) *malformed = true;
        return out;
      }
      if (fr.status == FeedStatus::kComplete) out.push_back(r);
    }
  }
  return out;
}

const std::string kTwoResponses =
    "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
    "HTTP/1.1 404 Not Found\r\ncontent-length:0\r\nCONNECTION: Close\r\n\r\n";

TEST(HttpReader, TwoPipelinedResponsesAtEverySplit) {
  for (std::size_t split = 0; split <= kTwoResponses.size(); ++split) {
    HttpReader reader;
    auto rs = feed_split(reader, "", kTwoResponses, split);
    ASSERT_EQ(rs.size(), 2u) << "split at " << split;
    EXPECT_EQ(rs[0].status, 200);
    EXPECT_FALSE(rs[0].close);
    EXPECT_EQ(rs[1].status, 404);
    EXPECT_TRUE(rs[1].close);
  }
}

TEST(HttpReader, ConsumesExactlyOneResponsePerCall) {
  HttpReader reader;
  Response r;
  FeedResult fr = reader.feed("", kTwoResponses.data(), kTwoResponses.size(), r);
  EXPECT_EQ(fr.status, FeedStatus::kComplete);
  EXPECT_EQ(kTwoResponses.substr(fr.used, 9), "HTTP/1.1 ");
}

TEST(HttpReader, Http10ClosesUnlessKeepAlive) {
  HttpReader reader;
  auto rs = feed_split(reader, "", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_TRUE(rs[0].close);
  rs = feed_split(reader, "",
                  "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 3);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_FALSE(rs[0].close);
}

TEST(HttpReader, BodyWithoutLengthEndsAtEof) {
  std::string in = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome body bytes";
  for (std::size_t split = 0; split <= in.size(); ++split) {
    HttpReader reader;
    EXPECT_TRUE(feed_split(reader, "", in, split).empty());
    Response r;
    ASSERT_TRUE(reader.complete_on_eof(r));
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.close);
  }
}

TEST(HttpReader, NoBodyFor204And304) {
  HttpReader reader;
  auto rs = feed_split(reader, "", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 NM\r\n\r\n", 20);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, 204);
  EXPECT_EQ(rs[1].status, 304);
}

TEST(HttpReader, LargeBodyIsSkippedNotCopied) {
  std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'z');
  HttpReader reader;
  auto rs = feed_split(reader, "", in, 50000);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 200);
}

TEST(HttpReader, RefusesWhatItCannotFrame) {
  for (std::string bad : {
           std::string("HTTX/1.1 200 OK\r\n\r\n"),
           std::string("HTTP/1.1 2x0 OK\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"),
           std::string(
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length\n\r\n"),
       }) {
    for (std::size_t split = 0; split <= bad.size(); ++split) {
      HttpReader reader;
      bool malformed = false;
      auto rs = feed_split(reader, "", bad, split, &malformed);
      EXPECT_TRUE(malformed) << bad << " split " << split;
      EXPECT_TRUE(rs.empty());
    }
  }
}

TEST(EchoReader, CompletesOneRequestPerMessageAtEverySplit) {
  std::string payload = make_echo_payload(37);
  std::string in = payload + payload + payload;
  for (std::size_t split = 0; split <= in.size(); ++split) {
    EchoReader reader;
    auto rs = feed_split(reader, payload, in, split);
    ASSERT_EQ(rs.size(), 3u);
    for (const Response& r : rs) EXPECT_FALSE(r.mismatch);
  }
}

TEST(EchoReader, EveryFlippedByteIsAMismatchOfItsMessageOnly) {
  std::string payload = make_echo_payload(16);
  for (std::size_t at = 0; at < 2 * payload.size(); ++at) {
    std::string in = payload + payload;
    in[at] = static_cast<char>(in[at] ^ 1);
    EchoReader reader;
    auto rs = feed_split(reader, payload, in, at / 2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].mismatch, at < payload.size());
    EXPECT_EQ(rs[1].mismatch, at >= payload.size());
  }
}

}  // namespace
}  // namespace cb::loadgen
