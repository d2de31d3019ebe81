// scheduler.h: the fiber scheduler and its I/O hub (eventlet's hub, Go's
// netpoller on one thread).
//
// A Scheduler belongs to one thread. It keeps a FIFO run queue of fibers;
// run() resumes them one at a time on the thread's own stack ("the hub").
// A fiber runs until it yields, parks or finishes: there is no preemption.
// When the run queue is empty the hub waits in epoll (an
// event::EventLoop<EpollPoller>) and makes runnable the fibers whose fds
// became ready or whose timers expired. Every suspension is a switch to the
// hub and back, two context switches of ~ten nanoseconds each.
//
// Readiness: each fd is registered once, edge-triggered, for both
// directions (FdWait + watch()). That is one epoll_ctl per connection for
// its whole life. Level-triggered interest would need an epoll_ctl(MOD) each
// time a fiber switches between waiting to read and waiting to write (or
// spurious wakeups for the direction nobody waits on, every loop). Edge
// triggering is safe here because a fiber parks only after the syscall said
// EAGAIN (or, for reads, after a short read drained the socket: see
// socket.cpp), and nothing else runs on this thread between that and the
// park: any later readiness is a new edge, queued in epoll until the hub
// collects it. An edge that arrives while nobody waits is not lost: FdWait
// remembers it, and the next read tries the syscall.
//
// Stopping: request_stop() (or the stop fd becoming readable) wakes every
// parked fiber with Wake::kStopping and makes every later park return it at
// once, so blocking-style code unwinds normally and releases its resources.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "event/epoll_poller.h"
#include "event/event_loop.h"
#include "fiber/context.h"
#include "fiber/stack.h"

namespace cb::fiber {

using Clock = event::Clock;
inline constexpr Clock::time_point kNoDeadline = Clock::time_point::max();

// Why a parked fiber runs again.
enum class Wake : uint8_t { kReady, kTimeout, kStopping };

class Scheduler;
struct Fiber;  // lives at the top of its own stack; see scheduler.cpp

// The hub's record of one fd: which fiber (if any) waits on it, for what,
// and what the edges seen so far say about it. Registered with
// Scheduler::watch(); it must stay at the same address until the fd is
// closed (closing removes the fd from epoll). One waiter at a time.
class FdWait : public event::Handler {
 public:
  FdWait() { on_event = &FdWait::on_ready; }
  FdWait(const FdWait&) = delete;
  FdWait& operator=(const FdWait&) = delete;

  // False only after mark_drained() with no readable edge since: a read
  // then would almost surely say EAGAIN, so the caller may park first.
  // A hangup or error, once seen, keeps it true for good (see socket.cpp).
  bool may_be_readable() const { return readable_ || hung_up_; }
  void mark_drained() { readable_ = false; }

 private:
  friend class Scheduler;
  static void on_ready(event::Handler* self, uint32_t events);
  Fiber* waiter_ = nullptr;
  uint32_t want_ = 0;
  bool readable_ = true;  // a new fd may hold data already
  bool hung_up_ = false;
};

class Scheduler {
 public:
  struct Options {
    std::size_t stack_bytes = 64 * 1024;
    // Finished stacks kept for reuse. Each keeps the pages its fiber touched
    // (a few KiB), so 256 bounds that to about a megabyte after a burst,
    // while connection churn below 256 concurrent fibers never maps anew.
    std::size_t max_pooled_stacks = 256;
    int stop_fd = -1;  // becoming readable means request_stop(); -1 = none
  };

  explicit Scheduler(const Options& options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues fn() to run as a new fiber. The callable is moved onto the top of
  // the fiber's stack: no heap allocation. Returns false (errno set) if no
  // stack could be mapped.
  template <class F>
  bool spawn(F&& fn);

  // Runs fibers until every one of them has finished.
  void run();

  // Wakes every parked fiber with kStopping; later parks return it at once.
  void request_stop();
  bool stopping() const { return stopping_; }

  // Registers fd with the hub, edge-triggered, for reading and writing.
  // Once per fd; throws SysError if epoll refuses (setup, not hot path).
  void watch(int fd, FdWait& wait);

  // --- called from inside a fiber of this scheduler ---
  // The scheduler running on this thread, nullptr outside run().
  static Scheduler* current();
  Fiber* running() const { return running_; }
  // Lets every other runnable fiber run once, and the hub poll, first.
  void yield();
  // Parks until fd has one of `events` (event::kReadable / kWritable; a
  // hangup or error wakes either), the deadline passes or stop.
  Wake wait_fd(FdWait& wait, uint32_t events, Clock::time_point deadline = kNoDeadline);
  Wake sleep_until(Clock::time_point deadline);
  // Parks until another fiber calls wake() (or stop).
  Wake park();
  // Makes a parked fiber runnable (Wake::kReady); a no-op if it is not parked.
  void wake(Fiber* fiber);

  std::size_t live_fibers() const { return live_; }
  // Fibers that ended by throwing (the exception is swallowed at the
  // fiber's edge so the scheduler survives; the owner decides what it means).
  std::size_t failed_fibers() const { return failed_; }
  const StackPool& stacks() const { return pool_; }

 private:
  friend class FdWait;
  static void fiber_main(void* fiber);
  static void on_stop_fd(event::Handler* self, uint32_t events);

  template <class Fn>
  static void run_body(void* payload);

  // Maps a stack and places a Fiber plus `payload_bytes` for the callable at
  // its top; nullptr if no stack.
  Fiber* create(std::size_t payload_bytes, std::size_t payload_align, void (*body)(void*),
                void** payload);
  void start(Fiber* f);
  void destroy(Fiber* f);  // returns the stack to the pool
  void run_batch();
  void resume(Fiber* f);
  Wake suspend(Fiber* f);
  void make_runnable(Fiber* f, Wake why);
  void enqueue(Fiber* f);

  event::EventLoop<event::EpollPoller> hub_;
  StackPool pool_;
  Context hub_context_;  // the thread's own stack, where run() executes
  Fiber* running_ = nullptr;
  Fiber* run_head_ = nullptr;  // FIFO of runnable fibers
  Fiber* run_tail_ = nullptr;
  Fiber* live_head_ = nullptr;  // every fiber not yet finished
  std::size_t live_ = 0;
  std::size_t failed_ = 0;
  bool stopping_ = false;
  struct StopWatch : event::Handler {
    Scheduler* owner = nullptr;
  } stop_watch_;
};

// --- free functions for code running inside a fiber ---
inline void yield() { Scheduler::current()->yield(); }
inline Wake sleep_for(Clock::duration d) {
  return Scheduler::current()->sleep_until(Clock::now() + d);
}

template <class Fn>
void Scheduler::run_body(void* payload) {
  Fn* fn = std::launder(static_cast<Fn*>(payload));
  // The callable (and whatever it captured, such as a connection's Fd) is
  // destroyed on the fiber, even if it throws.
  struct DestroyAtEnd {
    Fn* target;
    ~DestroyAtEnd() { std::destroy_at(target); }
  } guard{fn};
  (*fn)();
}

template <class F>
bool Scheduler::spawn(F&& fn) {
  using Fn = std::decay_t<F>;
  void* payload = nullptr;
  Fiber* f = create(sizeof(Fn), alignof(Fn), &run_body<Fn>, &payload);
  if (f == nullptr) return false;
  try {
    ::new (payload) Fn(std::forward<F>(fn));
  } catch (...) {
    destroy(f);
    throw;
  }
  start(f);
  return true;
}

}  // namespace cb::fiber
