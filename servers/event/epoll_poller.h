// epoll_poller.h: the epoll backend (level-triggered by default,
// edge-triggered or one-shot on request). The only file that includes <sys/epoll.h> is
// epoll_poller.cpp.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "common/fd.h"
#include "event/event_loop.h"

namespace cb::event {

class EpollPoller {
 public:
  // kOneShot (EPOLLONESHOT): an fd reports once, then stays silent until
  // modify() re-arms it, so exactly one worker thread owns a ready fd.
  enum class Trigger { kLevel, kEdge, kOneShot };
  explicit EpollPoller(Trigger trigger = Trigger::kLevel);

  void add(int fd, uint32_t events, Handler* h);
  void modify(int fd, uint32_t events, Handler* h);
  void remove(int fd);
  int wait(std::span<Ready> out, std::chrono::nanoseconds timeout);
  // The signal mask wait() runs with (epoll_pwait: atomically swapped in
  // for the wait only), or nullptr for the thread's own. A thread that
  // blocks some signals everywhere else receives them only here.
  void set_wait_sigmask(const sigset_t* mask) { wait_mask_ = mask; }

  int fd() const { return epoll_.get(); }

 private:
  uint32_t to_epoll(uint32_t events) const;

  Fd epoll_;
  Trigger trigger_;
  const sigset_t* wait_mask_ = nullptr;
  std::vector<char> raw_;  // struct epoll_event[], sized on first wait
};

}  // namespace cb::event
