// backend_frame.h: the framing of the backend delay service (bench_backend,
// servers/backend/): fixed-size binary request frames and replies of a
// header plus deterministic content. I/O-free: the service decodes requests
// with it, and a server's client side encodes them and checks the replies.
//
// Request, 16 bytes, every field a little-endian u32:
//   [0]  magic        kRequestMagic ("BKQ1": the last byte is the version)
//   [4]  delay_us     answer after this many microseconds (<= kMaxDelayUs)
//   [8]  reply_bytes  content bytes in the reply (<= kMaxReplyBytes)
//   [12] id           opaque to the service, echoed in the reply
// Reply, 12 bytes of header then reply_bytes of content:
//   [0]  magic        kReplyMagic ("BKR1")
//   [4]  id           the request's id
//   [8]  reply_bytes  the request's reply_bytes
//   [12] content      byte i is 'a' + (i % 26)
// Replies on one connection come in request order. Encoding is explicit
// (byte shifts, never a memcpy of a struct), so the layout does not depend
// on the host. Unit tests: ctest --test-dir build -R BackendFrame
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cb::proto {

inline constexpr std::size_t kRequestBytes = 16;
inline constexpr std::size_t kReplyHeaderBytes = 12;
// ASCII "BKQ1" / "BKR1" read as little-endian u32: readable in a hex dump,
// and distinct so a reply sent back as a request is refused.
inline constexpr uint32_t kRequestMagic = 0x31514B42;
inline constexpr uint32_t kReplyMagic = 0x31524B42;
// 10 s: far above any backend latency a benchmark models, and it keeps the
// timers of one client from pinning the service for long.
inline constexpr uint32_t kMaxDelayUs = 10'000'000;
// 1 MiB: large bodies are in scope, but one 16-byte frame must not be able
// to ask for unbounded output.
inline constexpr uint32_t kMaxReplyBytes = 1u << 20;

struct Request {
  uint32_t delay_us = 0;
  uint32_t reply_bytes = 0;
  uint32_t id = 0;
};

enum class FrameError { kNone, kBadMagic, kDelayTooLong, kReplyTooLarge };
std::string_view frame_error_name(FrameError e);

// The 16 bytes of `r`. Fields are not checked, so tests can build bad frames.
std::array<char, kRequestBytes> encode_request(const Request& r);
void append_request(std::string& out, const Request& r);
// Parses and checks one whole frame (exactly kRequestBytes at `frame`).
FrameError decode_request(const char* frame, Request* out);

std::array<char, kReplyHeaderBytes> encode_reply_header(uint32_t id, uint32_t reply_bytes);
// kMaxReplyBytes of reply content: a reply's content is its first
// reply_bytes bytes, so writers send from it without copying.
std::string_view reply_content();
// A whole reply (header + content), for tests and simple clients.
std::string encode_reply(uint32_t id, uint32_t reply_bytes);

enum class DecodeStatus { kFrame, kNeedMore, kError };

// Splits a byte stream into requests, whatever the split of the bytes. Holds
// at most one partial frame (no read buffer of its own). After an error it
// stays failed: the connection is to be closed.
class RequestDecoder {
 public:
  // Takes bytes from the front of `in`. kFrame: *out holds the next request
  // (call again for more); kNeedMore: `in` is used up (a partial frame is
  // kept); kError: see error(), `in` is left where the bad frame ended.
  DecodeStatus next(std::string_view& in, Request* out);
  FrameError error() const { return error_; }
  std::size_t buffered() const { return have_; }

 private:
  DecodeStatus finish(const char* frame, Request* out);

  std::array<char, kRequestBytes> partial_{};
  uint8_t have_ = 0;
  FrameError error_ = FrameError::kNone;
};

enum class ReplyStatus { kNeedMore, kComplete, kError };
enum class ReplyError { kNone, kUnexpectedBytes, kBadMagic, kWrongId, kWrongLength, kBadContent };
std::string_view reply_error_name(ReplyError e);

// The client side: checks that one reply at a time is exactly the one
// expected (magic, id, length, every content byte), whatever the split.
class ReplyReader {
 public:
  // The next reply to read is the answer to (id, reply_bytes).
  void expect(uint32_t id, uint32_t reply_bytes);
  void expect(const Request& r) { expect(r.id, r.reply_bytes); }
  // Takes bytes of the expected reply from the front of `in`, never past its
  // end (what follows belongs to the next reply). kComplete: the whole reply
  // arrived and was right, call expect() for the next; kNeedMore: `in` is
  // used up; kError: see error(), sticky. Bytes with no reply expected are
  // kUnexpectedBytes.
  ReplyStatus feed(std::string_view& in);
  ReplyError error() const { return error_; }
  bool expecting() const { return expecting_; }

 private:
  ReplyStatus fail(ReplyError e);
  ReplyStatus feed_header(std::string_view& in);
  ReplyStatus feed_content(std::string_view& in);

  std::array<char, kReplyHeaderBytes> header_{};
  std::size_t header_have_ = 0;
  uint32_t id_ = 0;
  uint32_t reply_bytes_ = 0;
  uint32_t content_have_ = 0;
  bool expecting_ = false;
  ReplyError error_ = ReplyError::kNone;
};

}  // namespace cb::proto
