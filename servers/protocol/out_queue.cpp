// out_queue.cpp: see out_queue.h.
#include "protocol/out_queue.h"

#include <utility>

namespace cb::proto {

void OutQueue::append(std::string_view bytes) {
  if (bytes.empty()) return;
  if (empty()) clear();  // reuse storage from the start
  std::size_t begin = bytes_.size();
  bytes_.append(bytes);
  link_bytes(begin);
  buffered_ += bytes.size();
}

void OutQueue::link_bytes(std::size_t begin) {
  if (!empty()) {
    Segment& last = segments_.back();
    if (!last.file && last.end == begin) {
      last.end = bytes_.size();
      return;
    }
  }
  Segment s;
  s.begin = begin;
  s.end = bytes_.size();
  segments_.push_back(std::move(s));
}

void OutQueue::append_file(Fd file, off_t offset, std::size_t length) {
  if (length == 0) return;  // the fd closes here; nothing to send
  if (empty()) clear();
  Segment s;
  s.file = std::move(file);
  s.offset = offset;
  s.remaining = length;
  segments_.push_back(std::move(s));
  ++files_;
}

std::size_t OutQueue::pending_bytes() const {
  std::size_t total = 0;
  for (std::size_t i = head_; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    total += s.file ? s.remaining : s.end - s.begin;
  }
  return total;
}

OutQueue::Front OutQueue::front() const {
  const Segment& s = segments_[head_];
  Front f;
  if (s.file) {
    f.file_fd = s.file.get();
    f.file_offset = s.offset;
    f.file_length = s.remaining;
  } else {
    f.bytes = std::string_view(bytes_).substr(s.begin, s.end - s.begin);
  }
  return f;
}

void OutQueue::consume(std::size_t n) {
  Segment& s = segments_[head_];
  bool done;
  if (s.file) {
    s.offset += static_cast<off_t>(n);
    s.remaining -= n;
    done = s.remaining == 0;
    if (done) --files_;
  } else {
    s.begin += n;
    buffered_ -= n;
    done = s.begin == s.end;
  }
  if (done) {
    s.file.reset();
    ++head_;
    if (empty()) clear();
  }
}

void OutQueue::clear() {
  segments_.clear();  // closes any files still queued
  bytes_.clear();
  head_ = 0;
  buffered_ = 0;
  files_ = 0;
  // A 1 MiB echo must not pin 1 MiB to an idle connection for ever.
  if (bytes_.capacity() > kKeepCapacityBytes) bytes_.shrink_to_fit();
  if (segments_.capacity() > kKeepSegments) segments_.shrink_to_fit();
}

}  // namespace cb::proto
