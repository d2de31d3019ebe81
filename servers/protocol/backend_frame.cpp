// backend_frame.cpp: see backend_frame.h.
#include "protocol/backend_frame.h"

#include <algorithm>
#include <cstring>

namespace cb::proto {
namespace {

void put_u32le(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
}

uint32_t get_u32le(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

std::string make_content() {
  std::string s(kMaxReplyBytes, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

}  // namespace

std::string_view frame_error_name(FrameError e) {
  switch (e) {
    case FrameError::kNone: return "none";
    case FrameError::kBadMagic: return "bad magic";
    case FrameError::kDelayTooLong: return "delay_us above the limit";
    case FrameError::kReplyTooLarge: return "reply_bytes above the limit";
  }
  return "unknown";
}

std::string_view reply_error_name(ReplyError e) {
  switch (e) {
    case ReplyError::kNone: return "none";
    case ReplyError::kUnexpectedBytes: return "bytes with no reply expected";
    case ReplyError::kBadMagic: return "bad magic";
    case ReplyError::kWrongId: return "wrong id";
    case ReplyError::kWrongLength: return "wrong length";
    case ReplyError::kBadContent: return "wrong content";
  }
  return "unknown";
}

std::array<char, kRequestBytes> encode_request(const Request& r) {
  std::array<char, kRequestBytes> f{};
  put_u32le(f.data(), kRequestMagic);
  put_u32le(f.data() + 4, r.delay_us);
  put_u32le(f.data() + 8, r.reply_bytes);
  put_u32le(f.data() + 12, r.id);
  return f;
}

void append_request(std::string& out, const Request& r) {
  std::array<char, kRequestBytes> f = encode_request(r);
  out.append(f.data(), f.size());
}

FrameError decode_request(const char* frame, Request* out) {
  if (get_u32le(frame) != kRequestMagic) return FrameError::kBadMagic;
  out->delay_us = get_u32le(frame + 4);
  out->reply_bytes = get_u32le(frame + 8);
  out->id = get_u32le(frame + 12);
  if (out->delay_us > kMaxDelayUs) return FrameError::kDelayTooLong;
  if (out->reply_bytes > kMaxReplyBytes) return FrameError::kReplyTooLarge;
  return FrameError::kNone;
}

std::array<char, kReplyHeaderBytes> encode_reply_header(uint32_t id, uint32_t reply_bytes) {
  std::array<char, kReplyHeaderBytes> h{};
  put_u32le(h.data(), kReplyMagic);
  put_u32le(h.data() + 4, id);
  put_u32le(h.data() + 8, reply_bytes);
  return h;
}

std::string_view reply_content() {
  static const std::string content = make_content();  // built once, thread-safe
  return content;
}

std::string encode_reply(uint32_t id, uint32_t reply_bytes) {
  std::array<char, kReplyHeaderBytes> h = encode_reply_header(id, reply_bytes);
  std::string s(h.data(), h.size());
  s.append(reply_content().substr(0, std::min<std::size_t>(reply_bytes, kMaxReplyBytes)));
  return s;
}

DecodeStatus RequestDecoder::next(std::string_view& in, Request* out) {
  if (error_ != FrameError::kNone) return DecodeStatus::kError;
  if (have_ == 0 && in.size() >= kRequestBytes) {  // the common case: no copy
    const char* frame = in.data();
    in.remove_prefix(kRequestBytes);
    return finish(frame, out);
  }
  std::size_t take = std::min(kRequestBytes - have_, in.size());
  std::memcpy(partial_.data() + have_, in.data(), take);
  in.remove_prefix(take);
  have_ = static_cast<uint8_t>(have_ + take);
  if (have_ < kRequestBytes) return DecodeStatus::kNeedMore;
  have_ = 0;
  return finish(partial_.data(), out);
}

DecodeStatus RequestDecoder::finish(const char* frame, Request* out) {
  error_ = decode_request(frame, out);
  return error_ == FrameError::kNone ? DecodeStatus::kFrame : DecodeStatus::kError;
}

void ReplyReader::expect(uint32_t id, uint32_t reply_bytes) {
  id_ = id;
  reply_bytes_ = reply_bytes;
  header_have_ = 0;
  content_have_ = 0;
  expecting_ = true;
}

ReplyStatus ReplyReader::fail(ReplyError e) {
  error_ = e;
  expecting_ = false;
  return ReplyStatus::kError;
}

ReplyStatus ReplyReader::feed(std::string_view& in) {
  if (error_ != ReplyError::kNone) return ReplyStatus::kError;
  if (!expecting_) return in.empty() ? ReplyStatus::kNeedMore : fail(ReplyError::kUnexpectedBytes);
  if (header_have_ < kReplyHeaderBytes) {
    ReplyStatus s = feed_header(in);
    if (s != ReplyStatus::kComplete) return s;
  }
  return feed_content(in);
}

// kComplete here means "header done and right": the content follows.
ReplyStatus ReplyReader::feed_header(std::string_view& in) {
  std::size_t take = std::min(kReplyHeaderBytes - header_have_, in.size());
  std::memcpy(header_.data() + header_have_, in.data(), take);
  in.remove_prefix(take);
  header_have_ += take;
  if (header_have_ < kReplyHeaderBytes) return ReplyStatus::kNeedMore;
  if (get_u32le(header_.data()) != kReplyMagic) return fail(ReplyError::kBadMagic);
  if (get_u32le(header_.data() + 4) != id_) return fail(ReplyError::kWrongId);
  if (get_u32le(header_.data() + 8) != reply_bytes_) return fail(ReplyError::kWrongLength);
  return ReplyStatus::kComplete;
}

ReplyStatus ReplyReader::feed_content(std::string_view& in) {
  std::size_t take = std::min<std::size_t>(reply_bytes_ - content_have_, in.size());
  // reply_bytes_ was checked against the header, not the limit: a longer
  // expectation than the content table can only be a wrong length.
  if (content_have_ + take > kMaxReplyBytes) return fail(ReplyError::kWrongLength);
  if (in.substr(0, take) != reply_content().substr(content_have_, take)) {
    return fail(ReplyError::kBadContent);
  }
  in.remove_prefix(take);
  content_have_ += static_cast<uint32_t>(take);
  if (content_have_ < reply_bytes_) return ReplyStatus::kNeedMore;
  expecting_ = false;
  return ReplyStatus::kComplete;
}

}  // namespace cb::proto
