// head_clock.h: what every session shares about two per-connection bounds
// of the HTTP protocol (protocol/http.h):
//  - the request-head timeout: HeadClock starts when a head's first byte
//    arrives and stops when the head ends; the session answers 408 and
//    closes once it runs out (on_head_timeout). Blocking sessions turn it
//    into the read's timeout, the reactors into a timer;
//  - back-pressure: once the protocol holds input (input_held), the session
//    reads nothing more, writes its queue out and calls resume().
// The echo protocol has neither: the concepts below compile both away.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>

#include "protocol/out_queue.h"

namespace cb {

template <class P>
concept HasHeadTimeout = requires(P& p, const P& cp, proto::OutQueue& out) {
  { cp.head_pending() } -> std::same_as<bool>;
  { cp.heads_done() } -> std::same_as<uint64_t>;
  { cp.head_timeout() } -> std::same_as<std::chrono::milliseconds>;
  p.on_head_timeout(out);
};

template <class P>
concept HasBackPressure = requires(P& p, const P& cp, proto::OutQueue& out) {
  { cp.input_held() } -> std::same_as<bool>;
  p.resume(out);
};

// Whether the protocol holds input back (back-pressure); never for echo.
template <class P>
bool holds_input(const P& protocol) {
  if constexpr (HasBackPressure<P>) {
    return protocol.input_held();
  } else {
    return false;
  }
}

// True (and the protocol resumed) when the protocol held input back and the
// queue has been written out: the caller writes again before reading.
template <class P>
bool resume_held(P& protocol, proto::OutQueue& out) {
  if constexpr (HasBackPressure<P>) {
    if (out.empty() && protocol.input_held()) {
      protocol.resume(out);
      return true;
    }
  }
  return false;
}

class HeadClock {
 public:
  using Clock = std::chrono::steady_clock;

  // After the protocol took input (and answered what it could): starts the
  // clock at a new unfinished head, stops it when none is pending. A head
  // pending after others were completed is a new one (a read may end one
  // head and begin the next): its clock starts again.
  template <class P>
  void note(const P& protocol) {
    if constexpr (HasHeadTimeout<P>) {
      if (!protocol.head_pending() || protocol.head_timeout().count() == 0) {
        running_ = false;
      } else if (!running_ || protocol.heads_done() != heads_seen_) {
        running_ = true;
        heads_seen_ = protocol.heads_done();
        due_ = Clock::now() + protocol.head_timeout();
      }
    }
  }

  bool running() const { return running_; }
  Clock::time_point due() const { return due_; }
  bool expired(Clock::time_point now) const { return running_ && now >= due_; }

  // How long a blocking read may wait: the head's time left (at least 1 ms,
  // so a timeout of 0 never means "for ever") or `idle` (0 = for ever).
  std::chrono::milliseconds read_timeout(std::chrono::milliseconds idle,
                                         Clock::time_point now) const {
    if (!running_) return idle;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(due_ - now);
    left = std::max(left, std::chrono::milliseconds(1));
    return idle.count() > 0 ? std::min(idle, left) : left;
  }

 private:
  bool running_ = false;
  uint64_t heads_seen_ = 0;
  Clock::time_point due_{};
};

}  // namespace cb
