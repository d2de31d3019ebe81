// reply_queue.h: one connection's replies, in request order, for the delay
// service (bench_backend). I/O-free: the service pushes decoded requests,
// releases what is due, writes the gathered iovecs and reports how much
// went out.
//
// Ordering rule: a reply is released when it and every reply before it on
// the connection are due, so replies leave in request order and none leaves
// before its own due time (a short delay behind a long one waits for it).
// Content is never copied: a reply is its 12-byte header, encoded when it is
// gathered, plus a slice of the shared proto::reply_content().
// Tests: ctest --test-dir build-backend -R ReplyQueue
#pragma once

#include <sys/uio.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "protocol/backend_frame.h"

namespace cb::backend {

using Clock = std::chrono::steady_clock;
using ReplyHeader = std::array<char, proto::kReplyHeaderBytes>;

class ReplyQueue {
 public:
  void push(Clock::time_point due, uint32_t id, uint32_t reply_bytes);
  // Releases, in order, the held replies at the front that are due at `now`.
  void release_due(Clock::time_point now);
  // When the first held reply is due; nullopt if none is held.
  std::optional<Clock::time_point> next_due() const;

  bool has_output() const { return head_ < released_; }
  // Replies not yet completely written (released or held).
  std::size_t size() const { return entries_.size() - head_; }
  bool empty() const { return size() == 0; }

  // Describes the released bytes to write next in `iov` (two entries per
  // reply, at most iov.size() / 2 replies); headers are encoded into
  // `headers`, which must outlive the write. Returns the iovecs used.
  std::size_t gather(std::span<iovec> iov, std::span<ReplyHeader> headers) const;
  // `n` gathered bytes were written; returns how many replies completed.
  std::size_t consume(std::size_t n);

 private:
  struct Entry {
    Clock::time_point due;
    uint32_t id;
    uint32_t reply_bytes;
  };
  static std::size_t wire_bytes(const Entry& e) { return proto::kReplyHeaderBytes + e.reply_bytes; }
  void compact();

  // Finished entries are dropped from the front in bulk once this many
  // accumulate, so a connection that always has a reply pending does not
  // grow its vector forever, yet the copy is amortised.
  static constexpr std::size_t kCompactAt = 256;
  // Entries kept allocated once a connection drains: a burst of pipelined
  // requests must not leave an idle connection holding a large vector.
  static constexpr std::size_t kKeepEntries = 64;

  std::vector<Entry> entries_;
  std::size_t head_ = 0;          // first entry not completely written
  std::size_t released_ = 0;      // entries [head_, released_) may be written
  std::size_t head_written_ = 0;  // bytes of entries_[head_] already written
};

}  // namespace cb::backend
