// reader_test.cpp: the response readers (echo verification and the HTTP
// response parser), fed every response split at every byte offset, and (in
// the style of picohttpparser's test.c) one byte at a time and in two pieces
// at every offset, each giving exactly what the whole input gives.
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <utility>
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

// Each response's head (status line, headers, empty line) and body bytes,
// whatever the split: the figure a run reports per request.
TEST(HttpReader, CountsHeadAndBodyBytesOfEachResponseAtEverySplit) {
  const std::string head1 =
      "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\n"
      "Content-Type: text/plain\r\n\r\n";
  const std::string head2 =
      "HTTP/1.1 404 Not Found\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
      "Content-Length: 0\r\n\r\n";
  const std::string head3 = "HTTP/1.1 200 OK\nContent-Length: 3\n\n";  // bare LFs
  const std::string stream = head1 + "hello" + head2 + head3 + "abc";
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    HttpReader reader;
    auto rs = feed_split(reader, "", stream, split);
    ASSERT_EQ(rs.size(), 3u) << "split at " << split;
    EXPECT_EQ(rs[0].head_bytes, head1.size()) << "split at " << split;
    EXPECT_EQ(rs[0].body_bytes, 5u);
    EXPECT_EQ(rs[1].head_bytes, head2.size()) << "split at " << split;
    EXPECT_EQ(rs[1].body_bytes, 0u);
    EXPECT_EQ(rs[2].head_bytes, head3.size()) << "split at " << split;
    EXPECT_EQ(rs[2].body_bytes, 3u);
  }
  // A body framed by the end of the stream counts what arrived.
  HttpReader reader;
  auto rs = feed_split(reader, "", "HTTP/1.1 200 OK\r\n\r\nsome", 20);
  EXPECT_TRUE(rs.empty());
  Response last;
  ASSERT_TRUE(reader.complete_on_eof(last));
  EXPECT_EQ(last.head_bytes, 19u);
  EXPECT_EQ(last.body_bytes, 4u);
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

// ---- whole input vs. the same bytes in pieces -------------------------------

// Everything a reader made of a stream: each response with the offset at
// which it ended, where it refused the input (if it did), and what EOF after
// the last byte completed.
struct Outcome {
  std::vector<std::pair<std::size_t, Response>> responses;
  std::optional<std::size_t> malformed_at;
  std::optional<Response> at_eof;
  bool operator==(const Outcome&) const = default;
};

std::string describe(const Outcome& o) {
  std::ostringstream s;
  for (const auto& [end, r] : o.responses) {
    s << "[" << end << ": " << r.status << (r.close ? " close" : "")
      << (r.mismatch ? " mismatch" : "") << "] ";
  }
  if (o.malformed_at) s << "malformed at " << *o.malformed_at << " ";
  if (o.at_eof) s << "eof " << o.at_eof->status;
  return s.str();
}

// Feeds `input` cut at the ascending offsets `cuts` (each piece in as many
// feed calls as the reader takes, as the worker does).
template <class Reader>
Outcome read_in_pieces(const std::string& payload, const std::string& input,
                       const std::vector<std::size_t>& cuts) {
  Reader reader;
  Outcome o;
  std::size_t begin = 0;
  for (std::size_t k = 0; k <= cuts.size() && !o.malformed_at; ++k) {
    std::size_t end = k < cuts.size() ? cuts[k] : input.size();
    for (std::size_t at = begin; at < end;) {
      Response r;
      FeedResult fr = reader.feed(payload, input.data() + at, end - at, r);
      at += fr.used;
      if (fr.status == FeedStatus::kMalformed) {
        o.malformed_at = at;
        break;
      }
      if (fr.status == FeedStatus::kComplete) o.responses.emplace_back(at, r);
    }
    begin = end;
  }
  Response r;
  if (!o.malformed_at && reader.complete_on_eof(r)) o.at_eof = r;
  return o;
}

template <class Reader>
void expect_split_independent(const std::string& payload, const std::string& input) {
  const Outcome whole = read_in_pieces<Reader>(payload, input, {});
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
  EXPECT_EQ(read_in_pieces<Reader>(payload, input, every), whole)
      << "byte at a time: " << input << "\nwhole: " << describe(whole);
  for (std::size_t split = 0; split <= input.size(); ++split) {
    Outcome pieces = read_in_pieces<Reader>(payload, input, {split});
    EXPECT_EQ(pieces, whole) << "split at " << split << ": " << input << "\nwhole:  "
                             << describe(whole) << "\npieces: " << describe(pieces);
  }
}

// Valid, odd and refused responses, alone and pipelined.
const std::vector<std::string> kHttpStreams = {
    kTwoResponses,
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
    "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
    "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nconnection: clos\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody until the server closes",
    "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",                    // bare LF
    "HTTP/1.1 200 OK\r\nContent-Length:   7  \r\n\r\n1234567",      // spaces around
    "HTTP/1.1 200\r\nCache-Control: no\r\nContent-Type: t\r\nTransfer-Encodingx: chunked\r\n"
    "Connectionx: close\r\nContent-Lengthy: 5\r\nContent-Length: 1\r\n\r\n!",
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
    "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\nHTTP/1.1 042 Odd\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX-Long: " + std::string(300, 'v') + "\r\nContent-Length: 0\r\n\r\n",
    // Refused.
    "HTTX/1.1 200 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/2.0 200 OK\r\n\r\n",
    "HTTP/1.1 2x0 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length\n\r\n",
    "HTTP/1.1 200 OK\r\n\rX\r\n",
    "HTTP/1.1 200 OK\r\nContent-Len",  // cut short: neither complete nor refused
};

TEST(HttpReader, ByteAtATimeAndEverySplitGiveTheWholeInputsResult) {
  for (const std::string& in : kHttpStreams) expect_split_independent<HttpReader>("", in);
}

TEST(HttpReader, StreamsEndAsExpectedWhole) {
  // The table above holds what it claims to: valid streams complete, the
  // refused ones are refused (so the split test compares meaningful results).
  std::size_t refused = 0, unfinished = 0;
  for (const std::string& in : kHttpStreams) {
    Outcome o = read_in_pieces<HttpReader>("", in, {});
    if (o.malformed_at) {
      ++refused;
    } else if (o.responses.empty() && !o.at_eof) {
      ++unfinished;
    }
  }
  EXPECT_EQ(refused, 9u);
  EXPECT_EQ(unfinished, 1u);
}

TEST(EchoReader, ByteAtATimeAndEverySplitGiveTheWholeInputsResult) {
  const std::string payload = make_echo_payload(23);
  std::string flipped = payload + payload;
  flipped[30] = static_cast<char>(flipped[30] ^ 0x20);
  for (const std::string& in : {payload, payload + payload + payload, flipped,
                                payload + payload.substr(0, 5)}) {
    expect_split_independent<EchoReader>(payload, in);
  }
}

}  // namespace
}  // namespace cb::loadgen
