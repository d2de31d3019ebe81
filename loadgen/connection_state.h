// connection_state.h: one load-generator connection and the rules of its
// state machine that need no socket: may it send now, when does it next need
// attention (connect timeout, request timeout, its next open-loop slot, a
// reconnect), has its oldest request timed out, and how long to back off
// after a failed connect. The worker (worker.cpp) applies them to sockets
// and the event loop; they are tested on their own.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/fd.h"
#include "event/event_loop.h"
#include "pipeline.h"

namespace cb::loadgen {

enum class ConnState : uint8_t { kIdle, kConnecting, kOpen };

// About 140 bytes with its reader; one per connection, in a per-thread array.
// The loop's Handler* for the connection leads back to it (event::owner_of).
template <class Reader>
struct Conn : event::Handler {
  event::Timer timer;
  void* owner = nullptr;         // the Worker
  Pipeline pipe;                 // requests in flight, in the worker's ring
  Fd fd;
  uint32_t id = 0;               // global connection number
  int64_t next_intended_ns = 0;  // open loop: next slot; 0 = schedule not started
  int64_t retry_at_ns = 0;       // kIdle: when to reconnect; 0 = on demand
  int64_t connect_deadline_ns = 0;
  uint8_t connect_failures = 0;
  ConnState state = ConnState::kIdle;
  bool want_write = false;  // writable interest registered
  bool first_attempt_done = false;
  // Fairness: requests this slot completed inside the measured window. It
  // counts only what the Recorder counted, so it needs no reset when the
  // window opens and the slots add up to results.requests exactly.
  uint64_t window_requests = 0;
  Reader reader;
};

// Reconnect back-off after a failed connect: 10 ms doubling up to 1 s, so a
// dead server costs few syscalls but a restarted one is found again quickly.
inline constexpr int64_t kFirstBackoffNs = 10'000'000;
inline constexpr int64_t kMaxBackoffNs = 1'000'000'000;

// The run-wide settings the rules depend on; `quota_left` (requests this
// thread may still send, UINT64_MAX: no limit) is passed per call.
struct ConnRules {
  bool open_loop = false;
  bool close_mode = false;         // --close: one request per connection
  int64_t request_timeout_ns = 0;  // 0 = none

  template <class C>
  bool may_send(const C& c, uint64_t quota_left, int64_t now) const {
    if (quota_left == 0) return false;
    if (close_mode && c.pipe.sent_on_conn() > 0) return false;
    return !open_loop || (c.next_intended_ns != 0 && c.next_intended_ns <= now);
  }

  template <class C>
  bool timed_out(const C& c, int64_t now) const {
    return request_timeout_ns > 0 && c.pipe.inflight() > 0 &&
           now >= c.pipe.oldest().sent_ns + request_timeout_ns;
  }

  // The earliest thing the connection waits for in its state; INT64_MAX: none.
  template <class C>
  int64_t next_deadline(const C& c, uint64_t quota_left, int64_t now) const {
    switch (c.state) {
      case ConnState::kConnecting:
        return c.connect_deadline_ns;
      case ConnState::kOpen:
        return open_deadline(c, quota_left);
      case ConnState::kIdle:
        if (quota_left == 0) return INT64_MAX;
        if (!close_mode) return c.retry_at_ns != 0 ? c.retry_at_ns : INT64_MAX;
        return std::max(c.retry_at_ns, open_loop ? c.next_intended_ns : now);
    }
    return INT64_MAX;
  }

  // The back-off before the next attempt after a failed connect; counts
  // the failure.
  static int64_t backoff_ns(uint8_t& failures) {
    int shift = std::min<int>(failures, 7);
    if (failures < 255) ++failures;
    return std::min(kMaxBackoffNs, kFirstBackoffNs << shift);
  }

 private:
  // Open: the oldest request's timeout, or the next slot if one is free.
  template <class C>
  int64_t open_deadline(const C& c, uint64_t quota_left) const {
    int64_t when = INT64_MAX;
    if (request_timeout_ns > 0 && c.pipe.inflight() > 0) {
      when = c.pipe.oldest().sent_ns + request_timeout_ns;
    }
    if (open_loop && !c.pipe.full() && quota_left > 0 && !(close_mode && c.pipe.sent_on_conn())) {
      when = std::min(when, c.next_intended_ns);
    }
    return when;
  }
};

}  // namespace cb::loadgen
