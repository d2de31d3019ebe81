// scheduler.cpp: see scheduler.h.
#include "fiber/scheduler.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "common/shutdown.h"

namespace cb::fiber {

namespace {

thread_local Scheduler* t_current = nullptr;

// The smallest stack left below the Fiber record and the callable: less than
// this and the fiber could not even reach its first syscall.
constexpr std::size_t kMinUsableStack = 8 * 1024;
// fcontext and the SysV ABI want 16-byte aligned stacks.
constexpr std::uintptr_t kStackAlign = 16;
// Passes over a never-empty run queue between two non-blocking hub polls.
constexpr int kPassesPerPoll = 16;

enum class State : uint8_t { kRunnable, kRunning, kParked, kDone };

}  // namespace

// Wakes its fiber when the hub's timer heap says the deadline passed.
struct TimerWake : event::Handler {
  Fiber* fiber = nullptr;
};

// One fiber's bookkeeping. It is placed at the very top of the fiber's own
// stack mapping, so a fiber costs one (pooled) mapping and no heap block.
struct Fiber {
  Context context;
  Stack stack;  // the mapping this record lives in
  Scheduler* scheduler = nullptr;
  void (*body)(void*) = nullptr;
  void* payload = nullptr;  // the callable, just below this record
  Fiber* next_runnable = nullptr;
  Fiber* prev_live = nullptr;
  Fiber* next_live = nullptr;
  FdWait* waiting_on = nullptr;  // the fd the fiber is parked on, if any
  event::Timer timer;
  TimerWake timer_wake;
  State state = State::kRunnable;
  Wake wake = Wake::kReady;
};

void FdWait::on_ready(event::Handler* self, uint32_t events) {
  auto* wait = event::owner_of<FdWait>(self);
  if ((events & event::kReadable) != 0) wait->readable_ = true;
  if ((events & event::kHangup) != 0) wait->hung_up_ = true;
  Fiber* f = wait->waiter_;
  if (f != nullptr && (events & (wait->want_ | event::kHangup)) != 0) {
    f->scheduler->make_runnable(f, Wake::kReady);
  }
}

Scheduler::Scheduler(const Options& options)
    : hub_(event::EpollPoller::Trigger::kEdge),
      pool_(options.stack_bytes, options.max_pooled_stacks) {
  stop_watch_.on_event = &Scheduler::on_stop_fd;
  stop_watch_.owner = this;
  // Edge-triggered registration of an fd that is already readable reports
  // it at once, so a stop requested before this point is not missed.
  if (options.stop_fd >= 0) hub_.watch(options.stop_fd, event::kReadable, &stop_watch_);
}

Scheduler::~Scheduler() {
  // Fibers still alive here were abandoned (run() threw): their frames can
  // not be unwound from outside, so only their stacks are reclaimed.
  while (live_head_ != nullptr) {
    Fiber* f = live_head_;
    live_head_ = f->next_live;
    destroy(f);
  }
}

Scheduler* Scheduler::current() { return t_current; }

void Scheduler::on_stop_fd(event::Handler* self, uint32_t) {
  event::owner_of<StopWatch>(self)->owner->request_stop();
}

void Scheduler::watch(int fd, FdWait& wait) {
  hub_.watch(fd, event::kReadable | event::kWritable, &wait);
}

Fiber* Scheduler::create(std::size_t payload_bytes, std::size_t payload_align,
                         void (*body)(void*), void** payload) {
  Stack stack = pool_.acquire();
  if (!stack.valid()) return nullptr;
  auto top = reinterpret_cast<std::uintptr_t>(stack.top());
  auto bottom = reinterpret_cast<std::uintptr_t>(stack.bottom());
  std::uintptr_t record = (top - sizeof(Fiber)) & ~(std::uintptr_t{alignof(Fiber)} - 1);
  std::uintptr_t align = payload_align > kStackAlign ? payload_align : kStackAlign;
  std::uintptr_t slot = (record - payload_bytes) & ~(align - 1);
  if (slot < bottom + kMinUsableStack || slot > record) {
    pool_.release(std::move(stack));
    errno = E2BIG;  // the callable does not leave room for a stack
    return nullptr;
  }
  auto* f = ::new (reinterpret_cast<void*>(record)) Fiber;
  f->stack = std::move(stack);
  f->scheduler = this;
  f->body = body;
  f->payload = reinterpret_cast<void*>(slot);
  f->timer_wake.fiber = f;
  f->timer_wake.on_event = [](event::Handler* h, uint32_t) {
    Fiber* owner = event::owner_of<TimerWake>(h)->fiber;
    owner->scheduler->make_runnable(owner, Wake::kTimeout);
  };
  f->timer.handler = &f->timer_wake;
  make_context(f->context, reinterpret_cast<void*>(bottom), slot - bottom, &Scheduler::fiber_main,
               f);
  *payload = f->payload;
  return f;
}

void Scheduler::start(Fiber* f) {
  f->next_live = live_head_;
  if (live_head_ != nullptr) live_head_->prev_live = f;
  live_head_ = f;
  ++live_;
  f->state = State::kRunnable;
  enqueue(f);
}

void Scheduler::destroy(Fiber* f) {
  Stack stack = std::move(f->stack);
  f->~Fiber();
  pool_.release(std::move(stack));
}

void Scheduler::fiber_main(void* arg) {
  auto* f = static_cast<Fiber*>(arg);
  try {
    f->body(f->payload);
  } catch (...) {
    ++f->scheduler->failed_;
  }
  f->state = State::kDone;
  exit_context(f->context, f->scheduler->hub_context_);
}

void Scheduler::run() {
  Scheduler* outer = t_current;
  t_current = this;
  // The stop signals are blocked while fibers run and let in only during
  // the hub's waits (epoll_pwait with the thread's old mask): a handler
  // then runs on the scheduler's own stack. Taken in a fiber's frame under
  // TSan, it would be deferred into that fiber's state and lost when the
  // fiber ends or parks for good: a stop that never comes.
  struct StopSignalsOnlyInWaits {
    explicit StopSignalsOnlyInWaits(event::EpollPoller& poller) : hub(poller) {
      sigset_t stop = stop_signals();
      ::pthread_sigmask(SIG_BLOCK, &stop, &waiting);
      hub.set_wait_sigmask(&waiting);
    }
    ~StopSignalsOnlyInWaits() {
      hub.set_wait_sigmask(nullptr);
      ::pthread_sigmask(SIG_SETMASK, &waiting, nullptr);
    }
    event::EpollPoller& hub;
    sigset_t waiting;  // the mask the thread had: the one the hub waits with
  } signals(hub_.backend());
  int passes_without_poll = 0;
  while (live_ > 0) {
    run_batch();
    if (live_ == 0) break;
    if (run_head_ == nullptr) {
      // Nothing to run: sleep until an fd, a timer or stop.
      passes_without_poll = 0;
      hub_.run_once(std::chrono::nanoseconds(-1));
    } else if (++passes_without_poll == kPassesPerPoll) {
      // Fibers that keep yielding must not starve I/O and timers, but a
      // poll per pass would cost them a syscall per yield: peek every few.
      passes_without_poll = 0;
      hub_.run_once(std::chrono::nanoseconds(0));
    }
  }
  t_current = outer;
}

// Runs the fibers that were runnable when the pass began; fibers woken
// meanwhile wait for the next pass, after the hub has polled once.
void Scheduler::run_batch() {
  Fiber* batch = run_head_;
  run_head_ = run_tail_ = nullptr;
  while (batch != nullptr) {
    Fiber* f = batch;
    batch = f->next_runnable;
    f->next_runnable = nullptr;
    resume(f);
  }
}

void Scheduler::resume(Fiber* f) {
  running_ = f;
  f->state = State::kRunning;
  switch_context(hub_context_, f->context);
  running_ = nullptr;
  if (f->state != State::kDone) return;
  if (f->prev_live != nullptr) f->prev_live->next_live = f->next_live;
  if (f->next_live != nullptr) f->next_live->prev_live = f->prev_live;
  if (live_head_ == f) live_head_ = f->next_live;
  --live_;
  destroy(f);
}

Wake Scheduler::suspend(Fiber* f) {
  f->state = State::kParked;
  switch_context(f->context, hub_context_);
  return f->wake;
}

void Scheduler::enqueue(Fiber* f) {
  f->next_runnable = nullptr;
  if (run_tail_ != nullptr) {
    run_tail_->next_runnable = f;
  } else {
    run_head_ = f;
  }
  run_tail_ = f;
}

void Scheduler::make_runnable(Fiber* f, Wake why) {
  if (f->state != State::kParked) return;
  if (f->timer.armed()) hub_.cancel(&f->timer);
  if (f->waiting_on != nullptr) {
    f->waiting_on->waiter_ = nullptr;
    f->waiting_on = nullptr;
  }
  f->wake = why;
  f->state = State::kRunnable;
  enqueue(f);
}

void Scheduler::yield() {
  Fiber* f = running_;
  f->state = State::kRunnable;
  enqueue(f);
  switch_context(f->context, hub_context_);
}

Wake Scheduler::wait_fd(FdWait& wait, uint32_t events, Clock::time_point deadline) {
  if (stopping_) return Wake::kStopping;
  Fiber* f = running_;
  wait.waiter_ = f;
  wait.want_ = events;
  f->waiting_on = &wait;
  if (deadline != kNoDeadline) hub_.arm(&f->timer, deadline);
  return suspend(f);
}

Wake Scheduler::sleep_until(Clock::time_point deadline) {
  if (stopping_) return Wake::kStopping;
  Fiber* f = running_;
  hub_.arm(&f->timer, deadline);
  return suspend(f);
}

Wake Scheduler::park() {
  if (stopping_) return Wake::kStopping;
  return suspend(running_);
}

void Scheduler::wake(Fiber* fiber) { make_runnable(fiber, Wake::kReady); }

void Scheduler::request_stop() {
  stopping_ = true;
  for (Fiber* f = live_head_; f != nullptr; f = f->next_live) make_runnable(f, Wake::kStopping);
}

}  // namespace cb::fiber
