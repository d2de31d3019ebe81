// select_poller.h: the select(2) backend of EventLoop, level-triggered.
// The oldest readiness API: fixed-size bit sets (FD_SETSIZE = 1024 bits),
// copied in and out of the kernel and scanned on every wait.
//
// FD_SET on an fd >= FD_SETSIZE writes past the end of the fd_set (a classic
// memory-corruption bug), so this backend refuses such fds: can_watch() says
// no, and add() throws rather than touching the set. Its owner checks
// can_watch() first and refuses the connection with a counted error.
#pragma once

#include <sys/select.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "event/event_loop.h"

namespace cb::event {

class SelectPoller {
 public:
  static constexpr int kMaxFds = FD_SETSIZE;

  SelectPoller();

  bool can_watch(int fd) const { return fd >= 0 && fd < kMaxFds; }
  // Throws SysError for an fd that cannot be watched or is already watched.
  void add(int fd, uint32_t events, Handler* h);
  void modify(int fd, uint32_t events, Handler* h);
  void remove(int fd);  // unknown fds are ignored
  int wait(std::span<Ready> out, std::chrono::nanoseconds timeout);

 private:
  void set_interest(int fd, uint32_t events);

  fd_set read_{};
  fd_set write_{};
  std::array<Handler*, kMaxFds> handlers_{};  // by fd; nullptr = not watched
  int max_fd_ = -1;                           // highest watched fd
  int resume_ = 0;                            // next scan starts here (fairness, as in PollPoller)
};

}  // namespace cb::event
