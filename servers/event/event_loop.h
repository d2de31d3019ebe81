// event_loop.h: the small event-loop API shared by the reactor, the fiber
// hub, the pool dispatcher and the load generator (after redis's ae):
//   watch(fd, events, handler) / modify / unwatch, one-shot timers, run, stop.
//
// The poller backend is a template parameter, chosen once by name at start-up
// (registry), so the loop calls it directly: no virtual call per event. Each
// backend lives in its own file (epoll_poller.cpp is the only file that
// includes <sys/epoll.h>). A Backend provides:
//   void add(int fd, uint32_t events, Handler*);
//   void modify(int fd, uint32_t events, Handler*);
//   void remove(int fd);
//   // Fills `out`, returns how many are ready; timeout < 0 waits forever.
//   int wait(std::span<Ready> out, std::chrono::nanoseconds timeout);
// and optionally
//   bool can_watch(int fd) const;  // false for fds it cannot hold (select)
//
// During dispatch a handler may destroy itself (close its own fd, after
// unwatch) but no other handler: the ready list of this wakeup may still
// point at the others.
// Handlers are a function pointer plus the object that embeds them, so a
// connection is one allocation and dispatch is one indirect call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

namespace cb::event {

using Clock = std::chrono::steady_clock;

// A wait's timeout as the timespec the kernel takes (ppoll, pselect,
// epoll_pwait2, io_uring's __kernel_timespec): nanoseconds, so timers below
// a millisecond are not rounded up. `timeout` must not be negative.
template <class Timespec>
Timespec to_timespec(std::chrono::nanoseconds timeout) {
  Timespec ts{};
  ts.tv_sec = timeout.count() / 1'000'000'000;
  ts.tv_nsec = timeout.count() % 1'000'000'000;
  return ts;
}

enum : uint32_t {
  kReadable = 1u << 0,
  kWritable = 1u << 1,
  kHangup = 1u << 2,  // peer closed or error: reported together with kReadable
  kTimer = 1u << 3,   // delivered to a timer's handler
};

struct Handler {
  void (*on_event)(Handler* self, uint32_t events) = nullptr;
};

// The one way from a Handler back to the object that holds it: the object
// derives from Handler and its callback casts back with owner_of. A
// static_cast from a base needs no layout rule (no first-member trick).
template <class T>
T* owner_of(Handler* h) {
  static_assert(std::is_base_of_v<Handler, T>, "an event handler's owner derives from Handler");
  return static_cast<T*>(h);
}

// A handler that calls one member function of its owner: the listener, the
// stop eventfd and the timers of an object that runs a loop.
template <class Owner, void (Owner::*kMethod)(uint32_t events)>
struct MemberHandler : Handler {
  explicit MemberHandler(Owner* o) : Handler{&MemberHandler::fire}, owner(o) {}
  Owner* owner;

 private:
  static void fire(Handler* h, uint32_t events) {
    MemberHandler* self = owner_of<MemberHandler>(h);
    (self->owner->*kMethod)(events);
  }
};

struct Ready {
  Handler* handler;
  uint32_t events;
};

// A one-shot timer. The owner keeps it alive while armed; an intrusive heap
// index makes cancel O(log n).
struct Timer {
  Handler* handler = nullptr;
  Clock::time_point deadline{};
  std::size_t heap_index = kNotArmed;
  static constexpr std::size_t kNotArmed = static_cast<std::size_t>(-1);
  bool armed() const { return heap_index != kNotArmed; }
};

// Min-heap of armed timers, ordered by deadline.
class TimerHeap {
 public:
  void arm(Timer* t, Clock::time_point deadline);
  void cancel(Timer* t);
  bool empty() const { return heap_.empty(); }
  Clock::time_point next_deadline() const { return heap_.front()->deadline; }
  // Pops the earliest timer if it is due at `now`, else nullptr.
  Timer* pop_due(Clock::time_point now);
  // Tells every timer due at `now` (kTimer), at most as many as were armed
  // on entry: one that its handler re-arms for a time already past fires
  // again at the next call, after a poll and a fresh clock, instead of
  // spinning here with the clock stopped.
  void fire_due(Clock::time_point now);

 private:
  void sift_up(std::size_t i);
  void sift_down(std::size_t i);
  void place(std::size_t i, Timer* t);
  std::vector<Timer*> heap_;
};

template <class Backend>
class EventLoop {
 public:
  template <class... Args>
  explicit EventLoop(Args&&... backend_args) : backend_(static_cast<Args&&>(backend_args)...) {}

  void watch(int fd, uint32_t events, Handler* h) { backend_.add(fd, events, h); }
  void modify(int fd, uint32_t events, Handler* h) { backend_.modify(fd, events, h); }
  void unwatch(int fd) { backend_.remove(fd); }
  // Whether watch(fd) can succeed: select(2) cannot represent fd >=
  // FD_SETSIZE, so its owner must refuse such a connection instead.
  bool can_watch(int fd) const {
    if constexpr (requires(const Backend& b) { b.can_watch(fd); }) {
      return backend_.can_watch(fd);
    } else {
      return fd >= 0;
    }
  }

  void arm(Timer* t, Clock::time_point deadline) { timers_.arm(t, deadline); }
  void arm_after(Timer* t, Clock::duration delay) { timers_.arm(t, now() + delay); }
  void cancel(Timer* t) { timers_.cancel(t); }

  // The time at the start of this iteration (one clock read per wakeup).
  Clock::time_point now() const { return now_; }
  Clock::time_point refresh_now() { return now_ = Clock::now(); }

  void stop() { stopping_ = true; }
  bool stopping() const { return stopping_; }

  // One wait plus dispatch; returns the number of I/O events handled.
  int run_once(std::chrono::nanoseconds max_wait = std::chrono::nanoseconds(-1)) {
    std::chrono::nanoseconds timeout = max_wait;
    if (!timers_.empty()) {
      auto until = std::chrono::duration_cast<std::chrono::nanoseconds>(timers_.next_deadline() -
                                                                        refresh_now());
      if (until.count() < 0) until = std::chrono::nanoseconds(0);
      if (timeout.count() < 0 || until < timeout) timeout = until;
    }
    int n = backend_.wait(ready_, timeout);
    refresh_now();
    for (int i = 0; i < n; ++i) {
      Ready r = ready_[static_cast<std::size_t>(i)];
      r.handler->on_event(r.handler, r.events);
    }
    timers_.fire_due(now_);
    return n;
  }

  void run() {
    refresh_now();
    while (!stopping_) run_once();
  }

  Backend& backend() { return backend_; }

 private:
  // 256 events per wait: enough to amortise the syscall over a busy loop,
  // small enough to keep fairness between connections.
  static constexpr std::size_t kMaxEvents = 256;

  Backend backend_;
  TimerHeap timers_;
  Ready ready_storage_[kMaxEvents];
  std::span<Ready> ready_{ready_storage_, kMaxEvents};
  Clock::time_point now_ = Clock::now();
  bool stopping_ = false;
};

}  // namespace cb::event
