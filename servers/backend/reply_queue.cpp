// reply_queue.cpp: see reply_queue.h.
#include "backend/reply_queue.h"

#include <algorithm>
#include <iterator>

namespace cb::backend {

void ReplyQueue::push(Clock::time_point due, uint32_t id, uint32_t reply_bytes) {
  entries_.push_back(Entry{due, id, reply_bytes});
}

void ReplyQueue::release_due(Clock::time_point now) {
  while (released_ < entries_.size() && entries_[released_].due <= now) ++released_;
}

std::optional<Clock::time_point> ReplyQueue::next_due() const {
  if (released_ == entries_.size()) return std::nullopt;
  return entries_[released_].due;
}

std::size_t ReplyQueue::gather(std::span<iovec> iov, std::span<ReplyHeader> headers) const {
  std::size_t used = 0;
  std::size_t skip = head_written_;  // only the first reply is partly written
  const char* content = proto::reply_content().data();
  for (std::size_t i = head_, h = 0; i < released_ && h < headers.size() && used + 2 <= iov.size();
       ++i, ++h) {
    const Entry& e = entries_[i];
    headers[h] = proto::encode_reply_header(e.id, e.reply_bytes);
    if (skip < proto::kReplyHeaderBytes) {
      iov[used++] = {headers[h].data() + skip, proto::kReplyHeaderBytes - skip};
      skip = 0;
    } else {
      skip -= proto::kReplyHeaderBytes;
    }
    // const_cast: iovec's base is void* for readv's sake; writev only reads.
    if (e.reply_bytes > skip) iov[used++] = {const_cast<char*>(content) + skip, e.reply_bytes - skip};
    skip = 0;
  }
  return used;
}

std::size_t ReplyQueue::consume(std::size_t n) {
  std::size_t completed = 0;
  while (n > 0 && head_ < released_) {
    std::size_t left = wire_bytes(entries_[head_]) - head_written_;
    if (n < left) {
      head_written_ += n;
      break;
    }
    n -= left;
    head_written_ = 0;
    ++head_;
    ++completed;
  }
  compact();
  return completed;
}

void ReplyQueue::compact() {
  if (head_ == entries_.size()) {
    if (entries_.capacity() > kKeepEntries) {
      std::vector<Entry>().swap(entries_);
    } else {
      entries_.clear();
    }
    head_ = released_ = 0;
  } else if (head_ >= kCompactAt && head_ * 2 >= entries_.size()) {
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(head_));
    released_ -= head_;
    head_ = 0;
  }
}

}  // namespace cb::backend
