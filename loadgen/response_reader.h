// response_reader.h: the client side's response readers, free of I/O (like
// the servers' protocol code): one per connection, fed with whatever each
// read returned. The requests they answer are in requests.h.
//
//   EchoReader  checks each echoed byte against the payload that was sent and
//               completes one request per msg_size bytes.
//   HttpReader  an incremental HTTP/1.x response parser: status line, the
//               three headers that matter (Content-Length, Connection,
//               Transfer-Encoding), then skips the body by counting. Bodies
//               are never copied; uninteresting header lines are skipped
//               with memchr. It counts the bytes of each response's head
//               (status line, headers and the empty line) and body, so a
//               run can say how much header each server sends per request.
//
// Both keep a few bytes of state per connection and accept input split at
// any byte offset. feed() consumes at most one response, so the caller can
// pop the matching request before feeding the rest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cb::loadgen {

enum class FeedStatus : uint8_t {
  kNeedMore,   // every byte consumed, the response is not complete yet
  kComplete,   // one response ended after `used` bytes
  kMalformed,  // not a response we can frame: the connection must be closed
};

struct FeedResult {
  std::size_t used = 0;
  FeedStatus status = FeedStatus::kNeedMore;
};

// What a completed response said.
struct Response {
  int status = 0;         // HTTP status code; 0 for echo
  bool mismatch = false;  // echo: at least one byte differed from the payload
  bool close = false;     // the server closes the connection after it
  uint32_t head_bytes = 0;  // http: status line + headers + empty line
  uint64_t body_bytes = 0;  // http: the body; echo: the message
  bool operator==(const Response&) const = default;
};

class EchoReader {
 public:
  void reset() {
    offset_ = 0;
    mismatch_ = false;
  }
  FeedResult feed(std::string_view payload, const char* data, std::size_t n, Response& out);
  // EOF mid-response never completes an echo request.
  bool complete_on_eof(Response&) { return false; }

 private:
  std::size_t offset_ = 0;
  bool mismatch_ = false;
};

class HttpReader {
 public:
  void reset() { *this = HttpReader(); }
  FeedResult feed(std::string_view /*payload*/, const char* data, std::size_t n, Response& out);
  // A response without Content-Length ends at EOF; true if one just did.
  bool complete_on_eof(Response& out);

 private:
  enum class State : uint8_t {
    kStatusLine,
    kLineStart,
    kName,
    kValue,
    kSkipLine,
    kEndOfHeaders,
    kBody,
    kBodyUntilEof,
  };
  enum Header : uint8_t { kContentLength = 0, kConnection = 1, kTransferEncoding = 2, kNone = 3 };

  FeedResult feed_bytes(const char* data, std::size_t n, Response& out);
  bool whole_status_line(const char* p);
  bool status_line_char(char c);
  void start_value();
  bool value_char(char c);
  FeedStatus finish_headers(Response& out);
  Response make_response() const;

  uint64_t body_left_ = 0;
  uint64_t content_length_ = 0;
  uint64_t body_read_ = 0;   // a body framed by EOF: bytes so far
  uint32_t head_bytes_ = 0;  // of this response's head, so far
  uint16_t pos_ = 0;  // position within the status line or header name
  uint16_t status_ = 0;
  State state_ = State::kStatusLine;
  Header header_ = kNone;
  uint8_t name_candidates_ = 0;  // bit per Header still matching the name
  uint8_t minor_version_ = 1;
  uint8_t close_match_ = 0;       // progress through "close" in Connection
  uint8_t keep_alive_match_ = 0;  // progress through "keep-alive"
  uint8_t chunked_match_ = 0;     // progress through "chunked"
  bool has_length_ = false;
  bool saw_close_ = false;
  bool saw_keep_alive_ = false;
  bool chunked_ = false;
  bool length_digits_ = false;
};

}  // namespace cb::loadgen
