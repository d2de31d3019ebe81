// uring.h: RAII pieces for io_uring users (reactor:uring): the ring, a ring
// of provided receive buffers, and a probe of the running kernel.
//
// Provided buffers are what let one thread keep a receive posted on 10,000
// sockets without 10,000 buffers: the kernel picks a buffer from the shared
// ring only when data arrives, and the owner hands it back once consumed.
#pragma once

#include <liburing.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/fd.h"
#include "event/event_loop.h"

namespace cb::event {

// True if io_uring with accept/recv/send/read and provided-buffer rings
// (Linux 5.19+) works here; else false and, if why_not is set, the reason. Probes the
// kernel, not the headers: a seccomp filter or io_uring_disabled=2 shows up.
bool uring_supported(std::string* why_not);

class UringRing {
 public:
  // Throws SysError. Asks for single-issuer + deferred task work (6.1+, fewer
  // interrupts of the loop thread) and falls back to a plain ring.
  explicit UringRing(unsigned entries);
  ~UringRing();
  UringRing(const UringRing&) = delete;
  UringRing& operator=(const UringRing&) = delete;

  io_uring* get() { return &ring_; }
  // A free submission entry, submitting the queue first if it is full.
  // Throws SysError if even that does not free one.
  io_uring_sqe* sqe();
  // The same, but nullptr instead of throwing: for work that has another
  // way to be done (a file read can be done on the loop, blocking).
  io_uring_sqe* try_sqe();

 private:
  io_uring ring_{};
};

class ProvidedBuffers {
 public:
  // `count` must be a power of two. Throws SysError (ENOMEM, or EINVAL from a
  // kernel without buffer rings).
  ProvidedBuffers(UringRing& ring, uint16_t group, unsigned count, unsigned size);
  ~ProvidedBuffers();
  ProvidedBuffers(const ProvidedBuffers&) = delete;
  ProvidedBuffers& operator=(const ProvidedBuffers&) = delete;

  uint16_t group() const { return group_; }
  const char* data(uint16_t bid) const { return data_ + std::size_t{bid} * size_; }
  // Returns a buffer the kernel filled (its id came in a completion).
  void give_back(uint16_t bid);

 private:
  UringRing& ring_;
  uint16_t group_;
  unsigned count_;
  unsigned size_;
  void* map_ = nullptr;  // the io_uring_buf ring followed by the buffers
  std::size_t map_bytes_ = 0;
  io_uring_buf_ring* bufs_ = nullptr;
  char* data_ = nullptr;
};

// The proactor's loop: the ring plus EventLoop's timers. run_once submits
// what was queued, waits for a completion or the next timer, then calls
// sink.on_completion(user_data, res, flags) for every completion (a direct
// call: the sink's type is a template parameter) and fires due timers.
class UringLoop {
 public:
  explicit UringLoop(unsigned entries) : ring_(entries) {}

  UringRing& ring() { return ring_; }
  io_uring_sqe* sqe() { return ring_.sqe(); }
  // Queues one request: prep(sqe) fills it in, user_data tags its completions.
  template <class Prep>
  void post(uint64_t user_data, Prep prep) {
    io_uring_sqe* s = ring_.sqe();
    prep(s);
    io_uring_sqe_set_data64(s, user_data);
  }
  // As post, but false (nothing queued) when no submission entry can be had.
  template <class Prep>
  bool try_post(uint64_t user_data, Prep prep) {
    io_uring_sqe* s = ring_.try_sqe();
    if (s == nullptr) return false;
    prep(s);
    io_uring_sqe_set_data64(s, user_data);
    return true;
  }
  void arm(Timer* t, Clock::time_point deadline) { timers_.arm(t, deadline); }
  void cancel(Timer* t) { timers_.cancel(t); }
  Clock::time_point now() const { return now_; }  // read once per wakeup

  // max_wait < 0: no limit other than the next timer.
  template <class Sink>
  void run_once(std::chrono::nanoseconds max_wait, Sink& sink) {
    wait(max_wait);
    io_uring_cqe* batch[kBatch];
    while (unsigned n = io_uring_peek_batch_cqe(ring_.get(), batch, kBatch)) {
      for (unsigned i = 0; i < n; ++i) {
        sink.on_completion(batch[i]->user_data, batch[i]->res, batch[i]->flags);
      }
      io_uring_cq_advance(ring_.get(), n);
    }
    timers_.fire_due(now_);
  }

 private:
  static constexpr unsigned kBatch = 256;
  void wait(std::chrono::nanoseconds max_wait);

  UringRing ring_;
  TimerHeap timers_;
  Clock::time_point now_ = Clock::now();
};

}  // namespace cb::event
