// out_queue.cpp: see out_queue.h.
#include "protocol/out_queue.h"

#include <utility>

namespace cb::proto {

// The thread's stock of drained queues' buffers (out_queue.h). Each thread
// has its own, so taking and giving back needs no lock; a connection that
// moves between threads (pool:ready) takes from one stock and gives back
// to another, which only moves a buffer.
struct OutQueue::Stock {
  std::vector<std::string> bytes;
  std::vector<std::vector<Segment>> segments;
};

OutQueue::Stock& OutQueue::stock() {
  thread_local Stock s;
  return s;
}

void OutQueue::restart(bool bytes) {
  bytes_.clear();
  head_ = 0;
  buffered_ = 0;
  files_ = 0;
  if (segments_.capacity() == 0 || (bytes && bytes_.capacity() <= std::string().capacity())) {
    Stock& s = stock();
    if (segments_.capacity() == 0 && !s.segments.empty()) {
      segments_ = std::move(s.segments.back());
      s.segments.pop_back();
    }
    if (bytes && bytes_.capacity() <= std::string().capacity() && !s.bytes.empty()) {
      bytes_ = std::move(s.bytes.back());
      s.bytes.pop_back();
    }
  }
}

void OutQueue::release() {
  segments_.clear();  // closes any files still queued
  bytes_.clear();
  head_ = 0;
  buffered_ = 0;
  files_ = 0;
  Stock& s = stock();
  if (bytes_.capacity() > std::string().capacity()) {
    // A 1 MiB echo must not pin 1 MiB to a thread for ever.
    if (bytes_.capacity() <= kKeepCapacityBytes && s.bytes.size() < kStockedBuffers) {
      s.bytes.push_back(std::move(bytes_));
    }
    std::string().swap(bytes_);  // (assigning an empty string keeps the buffer)
  }
  if (segments_.capacity() > 0) {
    if (segments_.capacity() <= kKeepSegments && s.segments.size() < kStockedBuffers) {
      s.segments.push_back(std::move(segments_));
    }
    std::vector<Segment>().swap(segments_);
  }
}

void OutQueue::append(std::string_view bytes) {
  if (bytes.empty()) return;
  if (empty()) restart(true);
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
  if (empty()) restart(false);
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
    f.more = head_ + 1 < segments_.size() && segments_[head_ + 1].file;
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
    if (empty()) release();
  }
}

void OutQueue::clear() {
  release();
}

}  // namespace cb::proto
