// test_backend_frame.cpp: unit tests of the backend delay service's framing
// (servers/protocol/backend_frame.*): the exact byte layout, the request
// decoder and the reply reader fed every split at every byte offset, one
// byte at a time and many pipelined frames at once, and every error. Run:
//   ctest --test-dir build -R 'BackendFrame|BackendReply'
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/backend_frame.h"

namespace cb::proto {
namespace {

std::string frame(const Request& r) {
  std::string s;
  append_request(s, r);
  return s;
}

std::string frame_with_magic(uint32_t magic, const Request& r) {
  std::string s = frame(r);
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(magic >> (8 * i));
  return s;
}

// Feeds `chunks` in order; collects every frame and the status at the end.
struct Decoded {
  std::vector<Request> frames;
  DecodeStatus last = DecodeStatus::kNeedMore;
};

Decoded decode_chunks(RequestDecoder& d, const std::vector<std::string_view>& chunks) {
  Decoded out;
  for (std::string_view in : chunks) {
    Request r;
    while ((out.last = d.next(in, &r)) == DecodeStatus::kFrame) out.frames.push_back(r);
    if (out.last == DecodeStatus::kError) return out;
    EXPECT_TRUE(in.empty());
  }
  return out;
}

void expect_same(const Request& a, const Request& b) {
  EXPECT_EQ(a.delay_us, b.delay_us);
  EXPECT_EQ(a.reply_bytes, b.reply_bytes);
  EXPECT_EQ(a.id, b.id);
}

const std::vector<Request> kSamples = {
    {0, 0, 0}, {1000, 1, 1}, {5000, 4096, 0xfffffffe}, {kMaxDelayUs, kMaxReplyBytes, 7},
    {123456, 70000, 0x01020304}};

TEST(BackendFrame, RequestLayoutIsLittleEndianFieldByField) {
  std::string f = frame({0x11223344, 0x00055667, 0xa1b2c3d4});
  const unsigned char want[] = {'B', 'K', 'Q', '1', 0x44, 0x33, 0x22, 0x11,
                                0x67, 0x56, 0x05, 0x00, 0xd4, 0xc3, 0xb2, 0xa1};
  ASSERT_EQ(f.size(), kRequestBytes);
  for (std::size_t i = 0; i < f.size(); ++i) EXPECT_EQ(static_cast<unsigned char>(f[i]), want[i]) << i;
}

TEST(BackendFrame, ReplyHeaderLayoutAndContent) {
  std::string r = encode_reply(0x0a0b0c0d, 30);
  ASSERT_EQ(r.size(), kReplyHeaderBytes + 30);
  EXPECT_EQ(r.substr(0, 4), "BKR1");
  EXPECT_EQ(r.substr(4, 8), std::string("\x0d\x0c\x0b\x0a\x1e\x00\x00\x00", 8));
  EXPECT_EQ(r.substr(12), "abcdefghijklmnopqrstuvwxyzabcd");
  EXPECT_EQ(reply_content().size(), kMaxReplyBytes);
  EXPECT_EQ(reply_content()[kMaxReplyBytes - 1], static_cast<char>('a' + (kMaxReplyBytes - 1) % 26));
}

TEST(BackendFrame, EveryFieldRoundTrips) {
  for (const Request& r : kSamples) {
    Request back;
    EXPECT_EQ(decode_request(frame(r).data(), &back), FrameError::kNone);
    expect_same(back, r);
  }
}

TEST(BackendFrame, EverySplitOfEveryFrameDecodes) {
  for (const Request& r : kSamples) {
    std::string f = frame(r);
    for (std::size_t cut = 0; cut <= f.size(); ++cut) {
      RequestDecoder d;
      std::string_view all(f);
      Decoded got = decode_chunks(d, {all.substr(0, cut), all.substr(cut)});
      ASSERT_EQ(got.frames.size(), 1u) << "cut at " << cut;
      expect_same(got.frames[0], r);
      EXPECT_EQ(got.last, DecodeStatus::kNeedMore);
      EXPECT_EQ(d.buffered(), 0u);
    }
  }
}

TEST(BackendFrame, OneByteAtATime) {
  std::string all;
  for (const Request& r : kSamples) all += frame(r);
  RequestDecoder d;
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < all.size(); ++i) bytes.push_back(std::string_view(all).substr(i, 1));
  Decoded got = decode_chunks(d, bytes);
  ASSERT_EQ(got.frames.size(), kSamples.size());
  for (std::size_t i = 0; i < kSamples.size(); ++i) expect_same(got.frames[i], kSamples[i]);
}

TEST(BackendFrame, PipelinedFramesInOneBufferAtEveryOffset) {
  std::string all;
  for (uint32_t i = 0; i < 50; ++i) all += frame({i * 10, i * 100, i});
  for (std::size_t cut = 0; cut <= all.size(); ++cut) {
    RequestDecoder d;
    std::string_view v(all);
    Decoded got = decode_chunks(d, {v.substr(0, cut), v.substr(cut)});
    ASSERT_EQ(got.frames.size(), 50u) << "cut at " << cut;
    for (uint32_t i = 0; i < 50; ++i) expect_same(got.frames[i], {i * 10, i * 100, i});
  }
}

TEST(BackendFrame, PartialFrameIsHeldUntilComplete) {
  std::string f = frame({1, 2, 3});
  RequestDecoder d;
  std::string_view in = std::string_view(f).substr(0, 15);
  Request r;
  EXPECT_EQ(d.next(in, &r), DecodeStatus::kNeedMore);
  EXPECT_EQ(d.buffered(), 15u);
  in = std::string_view(f).substr(15);
  EXPECT_EQ(d.next(in, &r), DecodeStatus::kFrame);
  EXPECT_EQ(r.id, 3u);
}

TEST(BackendFrame, BadMagicIsAnErrorAtEverySplit) {
  for (uint32_t magic : {0u, kReplyMagic, kRequestMagic + 1, kRequestMagic ^ 0x80000000u}) {
    std::string bad = frame({1, 1, 1}) + frame_with_magic(magic, {1, 1, 2});
    for (std::size_t cut = 0; cut <= bad.size(); ++cut) {
      RequestDecoder d;
      std::string_view v(bad);
      Decoded got = decode_chunks(d, {v.substr(0, cut), v.substr(cut)});
      EXPECT_EQ(got.frames.size(), 1u);
      EXPECT_EQ(got.last, DecodeStatus::kError);
      EXPECT_EQ(d.error(), FrameError::kBadMagic);
    }
  }
}

TEST(BackendFrame, BoundsAreInclusiveAndOneMoreIsAnError) {
  Request r;
  EXPECT_EQ(decode_request(frame({kMaxDelayUs, kMaxReplyBytes, 0}).data(), &r), FrameError::kNone);
  EXPECT_EQ(decode_request(frame({kMaxDelayUs + 1, 0, 0}).data(), &r), FrameError::kDelayTooLong);
  EXPECT_EQ(decode_request(frame({0, kMaxReplyBytes + 1, 0}).data(), &r),
            FrameError::kReplyTooLarge);
  EXPECT_EQ(decode_request(frame({0xffffffff, 0xffffffff, 0}).data(), &r),
            FrameError::kDelayTooLong);
}

TEST(BackendFrame, ErrorIsStickyAndStopsAtTheBadFrame) {
  std::string all = frame({0, kMaxReplyBytes + 1, 0}) + frame({0, 0, 1});
  RequestDecoder d;
  std::string_view in(all);
  Request r;
  EXPECT_EQ(d.next(in, &r), DecodeStatus::kError);
  EXPECT_EQ(d.error(), FrameError::kReplyTooLarge);
  EXPECT_EQ(in.size(), kRequestBytes);  // the good frame after it is not taken
  EXPECT_EQ(d.next(in, &r), DecodeStatus::kError);
  EXPECT_EQ(in.size(), kRequestBytes);
  EXPECT_FALSE(frame_error_name(d.error()).empty());
}

// Feeds `chunks` to a reader expecting `want` in order; returns how many
// replies completed and the reader's final status.
struct Read {
  std::size_t complete = 0;
  ReplyStatus last = ReplyStatus::kNeedMore;
};

Read read_chunks(ReplyReader& rd, const std::vector<Request>& want,
                 const std::vector<std::string_view>& chunks) {
  Read out;
  if (!want.empty()) rd.expect(want[0]);
  for (std::string_view in : chunks) {
    while (!in.empty() || out.last == ReplyStatus::kComplete) {
      out.last = rd.feed(in);
      if (out.last == ReplyStatus::kError) return out;
      if (out.last == ReplyStatus::kComplete && ++out.complete < want.size()) {
        rd.expect(want[out.complete]);
      } else if (out.last == ReplyStatus::kComplete) {
        break;
      }
    }
  }
  return out;
}

TEST(BackendReply, EverySplitOfEveryReplyCompletes) {
  for (uint32_t size : {0u, 1u, 25u, 26u, 27u, 4096u}) {
    std::string reply = encode_reply(9, size);
    for (std::size_t cut = 0; cut <= reply.size(); ++cut) {
      ReplyReader rd;
      std::string_view v(reply);
      Read got = read_chunks(rd, {{0, size, 9}}, {v.substr(0, cut), v.substr(cut)});
      EXPECT_EQ(got.complete, 1u) << "size " << size << " cut " << cut;
      EXPECT_FALSE(rd.expecting());
    }
  }
}

TEST(BackendReply, OneByteAtATimeAndPipelined) {
  std::vector<Request> want = {{0, 0, 1}, {0, 1, 2}, {0, 70000, 3}, {0, 0, 4}, {0, 26, 5}};
  std::string all;
  for (const Request& r : want) all += encode_reply(r.id, r.reply_bytes);
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < all.size(); ++i) bytes.push_back(std::string_view(all).substr(i, 1));
  ReplyReader one;
  EXPECT_EQ(read_chunks(one, want, bytes).complete, want.size());
  ReplyReader whole;
  EXPECT_EQ(read_chunks(whole, want, {all}).complete, want.size());
}

TEST(BackendReply, FeedStopsAtTheEndOfTheReply) {
  std::string two = encode_reply(1, 3) + encode_reply(2, 0);
  ReplyReader rd;
  rd.expect(1, 3);
  std::string_view in(two);
  EXPECT_EQ(rd.feed(in), ReplyStatus::kComplete);
  EXPECT_EQ(in.size(), kReplyHeaderBytes);
  EXPECT_EQ(rd.feed(in), ReplyStatus::kError);  // nothing expected yet
  EXPECT_EQ(rd.error(), ReplyError::kUnexpectedBytes);
}

// Corrupts one byte of a good reply at `at`; the reader must say `want`.
void expect_corruption_caught(std::size_t at, ReplyError want) {
  std::string reply = encode_reply(5, 100);
  reply[at] = static_cast<char>(reply[at] ^ 0x20);
  for (std::size_t cut = 0; cut <= reply.size(); ++cut) {
    ReplyReader rd;
    std::string_view v(reply);
    Read got = read_chunks(rd, {{0, 100, 5}}, {v.substr(0, cut), v.substr(cut)});
    EXPECT_EQ(got.last, ReplyStatus::kError) << "byte " << at << " cut " << cut;
    EXPECT_EQ(rd.error(), want) << "byte " << at << " cut " << cut;
  }
}

TEST(BackendReply, EveryCorruptionIsCaught) {
  expect_corruption_caught(0, ReplyError::kBadMagic);
  expect_corruption_caught(3, ReplyError::kBadMagic);
  expect_corruption_caught(4, ReplyError::kWrongId);
  expect_corruption_caught(8, ReplyError::kWrongLength);
  expect_corruption_caught(kReplyHeaderBytes, ReplyError::kBadContent);
  expect_corruption_caught(kReplyHeaderBytes + 57, ReplyError::kBadContent);
  expect_corruption_caught(kReplyHeaderBytes + 99, ReplyError::kBadContent);
}

TEST(BackendReply, WrongSizeOrIdIsCaughtAndSticky) {
  std::string reply = encode_reply(5, 100);
  ReplyReader rd;
  rd.expect(5, 99);
  std::string_view in(reply);
  EXPECT_EQ(rd.feed(in), ReplyStatus::kError);
  EXPECT_EQ(rd.error(), ReplyError::kWrongLength);
  in = reply;
  EXPECT_EQ(rd.feed(in), ReplyStatus::kError);
  ReplyReader other;
  other.expect(6, 100);
  in = reply;
  EXPECT_EQ(other.feed(in), ReplyStatus::kError);
  EXPECT_EQ(other.error(), ReplyError::kWrongId);
  EXPECT_FALSE(reply_error_name(other.error()).empty());
}

TEST(BackendReply, LargestReplyCompletes) {
  std::string reply = encode_reply(1, kMaxReplyBytes);
  ReplyReader rd;
  std::string_view v(reply);
  Read got = read_chunks(rd, {{0, kMaxReplyBytes, 1}}, {v.substr(0, 70001), v.substr(70001)});
  EXPECT_EQ(got.complete, 1u);
}

}  // namespace
}  // namespace cb::proto
