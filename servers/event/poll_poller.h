// poll_poller.h: the poll(2) backend of EventLoop, always level-triggered.
// The seed-era poller kept for comparison: every wait hands the kernel the
// whole array of watched fds and scans it again for results, so its cost
// grows with the number of idle connections (epoll's does not).
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "event/event_loop.h"

namespace cb::event {

class PollPoller {
 public:
  // Throws SysError when fd is already watched (add) or not watched (modify).
  void add(int fd, uint32_t events, Handler* h);
  void modify(int fd, uint32_t events, Handler* h);
  void remove(int fd);  // unknown fds are ignored
  int wait(std::span<Ready> out, std::chrono::nanoseconds timeout);

  std::size_t size() const { return fds_.size(); }

 private:
  static short to_poll(uint32_t events);
  int slot(int fd) const;  // index in fds_, or -1

  std::vector<pollfd> fds_;         // dense: exactly what poll() scans
  std::vector<Handler*> handlers_;  // parallel to fds_
  std::vector<int> slot_of_;        // fd -> index in fds_, -1 if not watched
  // When more fds are ready than `out` holds, the next scan starts where this
  // one stopped, so the first fds in the array cannot starve the rest.
  std::size_t resume_ = 0;
};

}  // namespace cb::event
