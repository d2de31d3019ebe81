// pipeline.h: the write pipeline of one connection: a ring of the requests
// in flight (pipeline slots, oldest first, each with its intended and actual
// send times), of which the newest `unsent` are not yet fully written.
// gather() lays the unsent request bytes out for one writev-style call and
// advance() accounts for what the socket took, so a partial write resumes
// mid-request. Pure bookkeeping: the worker makes the call (send_iov).
//
// The ring's slots live in the worker's array (one allocation for every
// connection); a Pipeline is 24 bytes of indices into its share. Everything
// is inline: it runs several times per request.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "requests.h"

namespace cb::loadgen {

struct InFlight {
  int64_t intended_ns;  // open loop: the schedule; closed loop: = sent_ns
  int64_t sent_ns;      // when it was handed to the socket (or connect began)
  uint32_t request;     // index into the RequestSet: also the latency class
};

class Pipeline {
 public:
  // `ring`: `depth` slots owned by the caller.
  void attach(InFlight* ring, uint16_t depth) {
    ring_ = ring;
    depth_ = depth;
  }
  uint16_t depth() const { return depth_; }
  uint16_t inflight() const { return inflight_; }  // queued and not answered
  uint16_t unsent() const { return unsent_; }      // not fully written yet
  bool full() const { return inflight_ >= depth_; }
  // Every request queued has been written completely: bytes arriving now
  // answer nothing that was asked.
  bool all_unwritten() const { return inflight_ == unsent_ && unsent_offset_ == 0; }
  // Requests queued on the current socket (reset by clear()).
  uint16_t sent_on_conn() const { return sent_on_conn_; }

  // A new request at the tail (the caller checks full()).
  InFlight& push() {
    InFlight& f = ring_[(head_ + inflight_) % depth_];
    ++inflight_;
    ++unsent_;
    ++sent_on_conn_;
    return f;
  }
  const InFlight& oldest() const { return ring_[head_]; }
  // The `k`th oldest request in flight.
  const InFlight& at(uint16_t k) const { return ring_[(head_ + k) % depth_]; }
  // The oldest request was answered.
  void pop() {
    head_ = static_cast<uint16_t>((head_ + 1) % depth_);
    --inflight_;
  }
  // The socket is gone: everything in flight is dropped.
  void clear() {
    head_ = inflight_ = unsent_ = sent_on_conn_ = 0;
    unsent_offset_ = 0;
  }
  void restart_count() { sent_on_conn_ = 0; }

  // Fills up to `max` iovecs with the unsent bytes, oldest first; returns
  // how many.
  int gather(const RequestSet& requests, iovec* iov, int max) const {
    int n = unsent_ < max ? unsent_ : max;
    std::size_t first = static_cast<std::size_t>(head_ + inflight_ - unsent_) % depth_;
    for (int k = 0; k < n; ++k) {
      std::string_view r = requests.request(ring_[(first + static_cast<std::size_t>(k)) % depth_].request);
      std::size_t skip = k == 0 ? unsent_offset_ : 0;
      iov[k] = {const_cast<char*>(r.data() + skip), r.size() - skip};
    }
    return n;
  }
  // `written` bytes of the `n` iovecs from gather() went out. Returns false
  // if a request was cut short (the socket is full).
  bool advance(const iovec* iov, int n, std::size_t written) {
    for (int k = 0; k < n && written > 0; ++k) {
      std::size_t rest = iov[k].iov_len;
      if (written < rest) {
        unsent_offset_ += static_cast<uint32_t>(written);
        break;
      }
      written -= rest;
      --unsent_;
      unsent_offset_ = 0;
    }
    return unsent_offset_ == 0;
  }

 private:
  InFlight* ring_ = nullptr;
  uint32_t unsent_offset_ = 0;  // bytes of the first unsent request written
  uint16_t depth_ = 1;
  uint16_t head_ = 0;      // oldest request in flight
  uint16_t inflight_ = 0;  // queued and not answered (incl. unsent)
  uint16_t unsent_ = 0;    // the newest `unsent_` are not fully written
  uint16_t sent_on_conn_ = 0;
};

// One send(2) for one buffer (the usual case, cheaper than importing an
// iovec), else sendmsg(2). MSG_NOSIGNAL: a vanished peer is EPIPE, counted,
// not SIGPIPE, so the library needs no process-wide signal setup.
ssize_t send_iov(int fd, const iovec* iov, int n);

}  // namespace cb::loadgen
