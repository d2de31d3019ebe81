// poll_poller.cpp: see poll_poller.h.
#include "event/poll_poller.h"

#include <cerrno>
#include <ctime>

#include "common/status.h"

namespace cb::event {

short PollPoller::to_poll(uint32_t events) {
  int e = 0;
  if (events & kReadable) e |= POLLIN | POLLRDHUP;
  if (events & kWritable) e |= POLLOUT;
  return static_cast<short>(e);
}

int PollPoller::slot(int fd) const {
  auto i = static_cast<std::size_t>(fd);
  return fd >= 0 && i < slot_of_.size() ? slot_of_[i] : -1;
}

void PollPoller::add(int fd, uint32_t events, Handler* h) {
  if (fd < 0) throw SysError("poll: add", EBADF);
  if (slot(fd) >= 0) throw SysError("poll: add", EEXIST);
  auto i = static_cast<std::size_t>(fd);
  if (i >= slot_of_.size()) slot_of_.resize(i + 1, -1);
  slot_of_[i] = static_cast<int>(fds_.size());
  fds_.push_back(pollfd{fd, to_poll(events), 0});
  handlers_.push_back(h);
}

void PollPoller::modify(int fd, uint32_t events, Handler* h) {
  int s = slot(fd);
  if (s < 0) throw SysError("poll: modify", ENOENT);
  fds_[static_cast<std::size_t>(s)].events = to_poll(events);
  handlers_[static_cast<std::size_t>(s)] = h;
}

void PollPoller::remove(int fd) {
  int s = slot(fd);
  if (s < 0) return;
  // Swap the last entry into the hole so the array stays dense.
  auto hole = static_cast<std::size_t>(s);
  std::size_t last = fds_.size() - 1;
  if (hole != last) {
    fds_[hole] = fds_[last];
    handlers_[hole] = handlers_[last];
    slot_of_[static_cast<std::size_t>(fds_[hole].fd)] = s;
  }
  fds_.pop_back();
  handlers_.pop_back();
  slot_of_[static_cast<std::size_t>(fd)] = -1;
}

int PollPoller::wait(std::span<Ready> out, std::chrono::nanoseconds timeout) {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout.count() >= 0) {
    ts = to_timespec<timespec>(timeout);
    tsp = &ts;
  }
  int n = ::ppoll(fds_.data(), fds_.size(), tsp, nullptr);
  if (n < 0) {
    if (errno == EINTR) return 0;
    throw SysError("ppoll", errno);
  }
  std::size_t size = fds_.size();
  std::size_t found = 0;
  std::size_t start = resume_ < size ? resume_ : 0;
  for (std::size_t k = 0; k < size && found < out.size() && found < static_cast<std::size_t>(n);
       ++k) {
    std::size_t i = (start + k) % size;
    auto re = static_cast<unsigned>(fds_[i].revents);
    if (re == 0) continue;
    uint32_t mapped = 0;
    if (re & (POLLIN | POLLPRI)) mapped |= kReadable;
    if (re & POLLOUT) mapped |= kWritable;
    // As in epoll_poller: errors and hangups reach the owner as readable, so
    // its next read sees the EOF or error. POLLNVAL means the owner closed
    // the fd without unwatching it, a bug that this at least makes visible.
    if (re & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) mapped |= kHangup | kReadable;
    out[found++] = Ready{handlers_[i], mapped};
    resume_ = i + 1;
  }
  return static_cast<int>(found);
}

}  // namespace cb::event
