// response_reader.cpp: see response_reader.h.
#include "response_reader.h"

#include <algorithm>
#include <cstring>

#include "common/ascii.h"

namespace cb::loadgen {
namespace {

using ascii::lower;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Steps a case-insensitive search for `token` within a header value; returns
// true when the token has just been seen. None of the tokens we look for
// starts again inside itself, so a mismatch can restart at the current char.
bool match_token(uint8_t& progress, char c, std::string_view token) {
  char lc = lower(c);
  if (lc == token[progress]) {
    if (++progress == token.size()) {
      progress = 0;
      return true;
    }
    return false;
  }
  progress = (lc == token[0]) ? 1 : 0;
  return false;
}

constexpr std::string_view kHeaderNames[] = {"content-length", "connection", "transfer-encoding"};
// Bodies longer than a petabyte are a parse error, not a wrap-around.
constexpr uint64_t kMaxContentLength = 1'000'000'000'000'000;

}  // namespace

FeedResult EchoReader::feed(std::string_view payload, const char* data, std::size_t n,
                            Response& out) {
  std::size_t take = std::min(n, payload.size() - offset_);
  if (std::memcmp(data, payload.data() + offset_, take) != 0) mismatch_ = true;
  offset_ += take;
  if (offset_ < payload.size()) return {take, FeedStatus::kNeedMore};
  out = Response{0, mismatch_, false, 0, payload.size()};
  reset();
  return {take, FeedStatus::kComplete};
}

// "HTTP/1.x SSS": the version's minor digit and the status code; the reason
// phrase is skipped.
// The first 12 bytes of a status line at once; false leaves the slow path
// to take them (and to report them malformed if they are).
bool HttpReader::whole_status_line(const char* p) {
  if (std::memcmp(p, "HTTP/1.", 7) != 0 || !is_digit(p[7]) || p[8] != ' ') return false;
  if (!is_digit(p[9]) || !is_digit(p[10]) || !is_digit(p[11])) return false;
  minor_version_ = static_cast<uint8_t>(p[7] - '0');
  status_ = static_cast<uint16_t>((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
  pos_ = 12;
  state_ = State::kSkipLine;
  return true;
}

bool HttpReader::status_line_char(char c) {
  static constexpr std::string_view kPrefix = "HTTP/1.";
  if (pos_ < kPrefix.size()) {
    if (c != kPrefix[pos_]) return false;
  } else if (pos_ == 7) {
    if (!is_digit(c)) return false;
    minor_version_ = static_cast<uint8_t>(c - '0');
  } else if (pos_ == 8) {
    if (c != ' ') return false;
  } else {
    if (!is_digit(c)) return false;
    status_ = static_cast<uint16_t>(status_ * 10 + (c - '0'));
    if (pos_ == 11) state_ = State::kSkipLine;
  }
  ++pos_;
  return true;
}

void HttpReader::start_value() {
  if (header_ == kContentLength) {
    content_length_ = 0;
    length_digits_ = false;
  }
  close_match_ = keep_alive_match_ = chunked_match_ = 0;
  state_ = State::kValue;
}

bool HttpReader::value_char(char c) {
  if (c == '\r') return true;
  switch (header_) {
    case kContentLength:
      if (c == ' ' || c == '\t') return true;
      if (!is_digit(c) || content_length_ > kMaxContentLength) return false;
      content_length_ = content_length_ * 10 + static_cast<uint64_t>(c - '0');
      length_digits_ = true;
      return true;
    case kConnection:
      if (match_token(close_match_, c, "close")) saw_close_ = true;
      if (match_token(keep_alive_match_, c, "keep-alive")) saw_keep_alive_ = true;
      return true;
    case kTransferEncoding:
      if (match_token(chunked_match_, c, "chunked")) chunked_ = true;
      return true;
    case kNone:
      return true;
  }
  return true;
}

Response HttpReader::make_response() const {
  bool close = saw_close_ || (minor_version_ == 0 && !saw_keep_alive_);
  bool no_body = state_ != State::kBody && state_ != State::kBodyUntilEof;
  uint64_t body = no_body ? 0 : state_ == State::kBody ? content_length_ : body_read_;
  return Response{status_, false, close, head_bytes_, body};
}

// After the blank line: decide how the body is framed. 1xx/204/304 have no
// body; chunked framing is not something a static file server sends, so it is
// refused rather than misread.
FeedStatus HttpReader::finish_headers(Response& out) {
  if (chunked_) return FeedStatus::kMalformed;
  bool no_body =
      status_ < 200 || status_ == 204 || status_ == 304 || (has_length_ && content_length_ == 0);
  if (no_body) {
    out = make_response();
    reset();
    return FeedStatus::kComplete;
  }
  if (has_length_) {
    body_left_ = content_length_;
    state_ = State::kBody;
  } else {
    state_ = State::kBodyUntilEof;
  }
  return FeedStatus::kNeedMore;
}

// A call that starts in the head consumes it from byte 0 (feed() ends at a
// response's end, so a head never starts mid-call): the head's bytes are the
// call's bytes up to its empty line, or all of them while it goes on.
FeedResult HttpReader::feed(std::string_view, const char* data, std::size_t n, Response& out) {
  FeedResult r = feed_bytes(data, n, out);
  if (r.status == FeedStatus::kNeedMore && state_ != State::kBody &&
      state_ != State::kBodyUntilEof) {
    head_bytes_ += static_cast<uint32_t>(r.used);  // the head goes on
  }
  return r;
}

FeedResult HttpReader::feed_bytes(const char* data, std::size_t n, Response& out) {
  std::size_t i = 0;
  while (i < n) {
    switch (state_) {
      case State::kBody: {
        std::size_t take = static_cast<std::size_t>(std::min<uint64_t>(n - i, body_left_));
        i += take;
        body_left_ -= take;
        if (body_left_ == 0) {
          out = make_response();
          reset();
          return {i, FeedStatus::kComplete};
        }
        break;
      }
      case State::kBodyUntilEof:
        body_read_ += n - i;
        return {n, FeedStatus::kNeedMore};
      case State::kSkipLine: {
        const void* nl = std::memchr(data + i, '\n', n - i);
        if (nl == nullptr) return {n, FeedStatus::kNeedMore};
        i = static_cast<std::size_t>(static_cast<const char*>(nl) - data) + 1;
        state_ = State::kLineStart;
        break;
      }
      case State::kStatusLine:
        if (pos_ == 0 && n - i >= 12 && whole_status_line(data + i)) {
          i += 12;  // the usual case: "HTTP/1.1 200" all in this read
          break;
        }
        if (!status_line_char(data[i++])) return {i, FeedStatus::kMalformed};
        break;
      case State::kLineStart: {
        char c = data[i];
        if (c == '\r') {
          ++i;
          state_ = State::kEndOfHeaders;
        } else if (c == '\n') {
          state_ = State::kEndOfHeaders;  // a bare LF ends the headers too
        } else if (lower(c) != 'c' && lower(c) != 't') {
          state_ = State::kSkipLine;  // not a header we read: skip it whole
        } else {
          state_ = State::kName;
          pos_ = 0;
          name_candidates_ = 0b111;
        }
        break;
      }
      case State::kEndOfHeaders: {
        if (data[i++] != '\n') return {i, FeedStatus::kMalformed};
        head_bytes_ += static_cast<uint32_t>(i);  // this call began in the head
        FeedStatus s = finish_headers(out);
        if (s != FeedStatus::kNeedMore) return {i, s};
        break;
      }
      case State::kName: {
        char c = data[i++];
        if (c == ':') {
          header_ = kNone;
          for (uint8_t h = 0; h < 3; ++h) {
            if ((name_candidates_ & (1u << h)) && kHeaderNames[h].size() == pos_) {
              header_ = static_cast<Header>(h);
            }
          }
          if (header_ == kNone) {
            state_ = State::kSkipLine;
          } else {
            start_value();
          }
          break;
        }
        if (c == '\n') return {i, FeedStatus::kMalformed};
        char lc = lower(c);
        for (uint8_t h = 0; h < 3; ++h) {
          if (pos_ >= kHeaderNames[h].size() || kHeaderNames[h][pos_] != lc) {
            name_candidates_ = static_cast<uint8_t>(name_candidates_ & ~(1u << h));
          }
        }
        ++pos_;
        if (name_candidates_ == 0) state_ = State::kSkipLine;
        break;
      }
      case State::kValue: {
        char c = data[i++];
        if (c == '\n') {
          if (header_ == kContentLength) {
            if (!length_digits_) return {i, FeedStatus::kMalformed};
            has_length_ = true;
          }
          state_ = State::kLineStart;
        } else if (!value_char(c)) {
          return {i, FeedStatus::kMalformed};
        }
        break;
      }
    }
  }
  return {n, FeedStatus::kNeedMore};
}

bool HttpReader::complete_on_eof(Response& out) {
  if (state_ != State::kBodyUntilEof) return false;
  out = make_response();
  out.close = true;
  reset();
  return true;
}

}  // namespace cb::loadgen
