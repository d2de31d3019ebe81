// out_queue.h: the bytes and file ranges a connection still owes its peer.
//
// Protocols append to it (response heads, echoed bytes, file bodies as
// (fd, offset, length) ranges); the I/O side drains it with flush(), which
// works for any Stream that can write and sendfile. A partial write leaves the
// rest queued, so a blocked sendfile of a 1 GiB file resumes where it stopped.
// Storage is reused between requests without being held by idle
// connections: a queue that drains hands its buffers to a small per-thread
// stock, and the next queue that fills on that thread takes them back. So
// steady-state keep-alive traffic does not allocate, and an idle connection
// owns no heap memory (10,000 idle HTTP connections of reactor:epoll held
// 1.8 KiB each with per-queue buffers, 0.5 KiB with the stock).
//
// Bytes followed by a file range are marked `more` (Front::more): a socket
// stream sends them with MSG_MORE, so a response's head leaves in the same
// segments as the first bytes of its sendfile body instead of a small
// packet of its own.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace cb::proto {

class OutQueue {
 public:
  void append(std::string_view bytes);
  void append_file(Fd file, off_t offset, std::size_t length);
  // Appends bytes written in place, saving a copy (HTTP reads a small file
  // straight into the queue): fill(char* room, max_bytes) writes into room
  // and returns how many bytes it used, 0..max_bytes (0 queues nothing).
  template <class Fill>
  std::size_t append_with(std::size_t max_bytes, Fill fill) {
    if (empty()) restart(true);
    std::size_t begin = bytes_.size();
    bytes_.resize(begin + max_bytes);
    std::size_t used = fill(bytes_.data() + begin, max_bytes);
    bytes_.resize(begin + used);
    if (used != 0) {
      link_bytes(begin);
    } else if (empty()) {
      release();  // nothing queued: the buffers go back
    }
    buffered_ += used;
    return used;
  }

  bool empty() const { return head_ == segments_.size(); }
  std::size_t pending_bytes() const;  // bytes + file bytes not yet written
  // What the queue holds right now, in O(1): bytes in memory (not yet
  // written) and open files (file ranges not yet sent). A protocol stops
  // producing when these pass its limit (http.h, back-pressure).
  std::size_t buffered_bytes() const { return buffered_; }
  std::size_t open_files() const { return files_; }
  std::size_t segment_count() const { return segments_.size() - head_; }
  // Heap memory the queue owns (its buffers' capacity): 0 once it drained.
  std::size_t owned_bytes() const {
    std::size_t sso = std::string().capacity();
    return (bytes_.capacity() > sso ? bytes_.capacity() : 0) +
           segments_.capacity() * sizeof(Segment);
  }

  // The segment to write next. Exactly one of bytes / file is set.
  struct Front {
    std::string_view bytes;
    bool more = false;  // bytes with a file range right after them
    int file_fd = -1;
    off_t file_offset = 0;
    std::size_t file_length = 0;
  };
  Front front() const;
  // n bytes of the front segment were written.
  void consume(std::size_t n);
  // Drops everything queued (closing its files) and gives the storage back
  // to the thread's stock.
  void clear();

 private:
  // Storage the thread's stock keeps for reuse; anything larger is freed
  // when the queue drains. 20 KiB: an inline HTTP response (head + a 16 KiB
  // body) fits, so serving a 16 KiB file does not reallocate per request.
  static constexpr std::size_t kKeepCapacityBytes = 20 * 1024;
  static constexpr std::size_t kKeepSegments = 16;
  // Buffers (and segment lists) the stock of one thread holds at most.
  static constexpr std::size_t kStockedBuffers = 64;

  struct Segment {
    std::size_t begin = 0;  // byte segments: [begin, end) of bytes_
    std::size_t end = 0;
    Fd file;  // file segments: file + offset + remaining
    off_t offset = 0;
    std::size_t remaining = 0;
  };
  // Queues bytes_[begin, end()) as the tail of the last byte segment or a
  // new one.
  void link_bytes(std::size_t begin);
  // An empty queue starts filling from the front again, taking buffers from
  // the thread's stock if it has none (`bytes`: it is about to hold bytes).
  void restart(bool bytes);
  // The queue drained: its buffers go back to the stock.
  void release();
  struct Stock;
  static Stock& stock();

  std::string bytes_;
  std::vector<Segment> segments_;
  std::size_t head_ = 0;
  std::size_t buffered_ = 0;  // unwritten bytes of byte segments
  std::size_t files_ = 0;     // file segments not yet sent
};

// Writes the queue to `stream` until it is empty (kOk), the stream would
// block (kRetry) or fails. Adds what was written to *written.
//   Stream: IoResult write(std::string_view);
//           IoResult sendfile(int file_fd, off_t* offset, std::size_t count);
//   optional: IoResult write_more(std::string_view): a write the stream may
//           hold back until more follows (MSG_MORE), used for bytes that a
//           file range follows.
template <class Stream>
IoResult flush(OutQueue& out, Stream& stream, uint64_t* written) {
  while (!out.empty()) {
    OutQueue::Front f = out.front();
    IoResult r;
    if (f.file_fd >= 0) {
      off_t offset = f.file_offset;
      r = stream.sendfile(f.file_fd, &offset, f.file_length);
    } else if constexpr (requires { stream.write_more(f.bytes); }) {
      r = f.more ? stream.write_more(f.bytes) : stream.write(f.bytes);
    } else {
      r = stream.write(f.bytes);
    }
    if (!r.ok()) return r;
    *written += r.bytes;
    out.consume(r.bytes);
  }
  return {IoStatus::kOk, 0, 0};
}

}  // namespace cb::proto
