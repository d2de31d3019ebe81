// select_poller.cpp: see select_poller.h.
#include "event/select_poller.h"

#include <cerrno>
#include <ctime>

#include "common/status.h"

namespace cb::event {

SelectPoller::SelectPoller() {
  FD_ZERO(&read_);
  FD_ZERO(&write_);
}

void SelectPoller::set_interest(int fd, uint32_t events) {
  FD_CLR(fd, &read_);
  FD_CLR(fd, &write_);
  if (events & kReadable) FD_SET(fd, &read_);
  if (events & kWritable) FD_SET(fd, &write_);
}

void SelectPoller::add(int fd, uint32_t events, Handler* h) {
  if (!can_watch(fd)) throw SysError("select: fd outside 0..FD_SETSIZE-1", EBADF);
  auto i = static_cast<std::size_t>(fd);
  if (handlers_[i] != nullptr) throw SysError("select: add", EEXIST);
  handlers_[i] = h;
  set_interest(fd, events);
  if (fd > max_fd_) max_fd_ = fd;
}

void SelectPoller::modify(int fd, uint32_t events, Handler* h) {
  if (!can_watch(fd) || handlers_[static_cast<std::size_t>(fd)] == nullptr) {
    throw SysError("select: modify", ENOENT);
  }
  handlers_[static_cast<std::size_t>(fd)] = h;
  set_interest(fd, events);
}

void SelectPoller::remove(int fd) {
  if (!can_watch(fd) || handlers_[static_cast<std::size_t>(fd)] == nullptr) return;
  handlers_[static_cast<std::size_t>(fd)] = nullptr;
  set_interest(fd, 0);
  while (max_fd_ >= 0 && handlers_[static_cast<std::size_t>(max_fd_)] == nullptr) --max_fd_;
}

int SelectPoller::wait(std::span<Ready> out, std::chrono::nanoseconds timeout) {
  // select overwrites its arguments: hand it copies.
  fd_set readable = read_;
  fd_set writable = write_;
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout.count() >= 0) {
    ts = to_timespec<timespec>(timeout);
    tsp = &ts;
  }
  int n = ::pselect(max_fd_ + 1, &readable, &writable, nullptr, tsp, nullptr);
  if (n < 0) {
    if (errno == EINTR) return 0;
    throw SysError("pselect", errno);
  }
  // n counts bits, and an fd can be both readable and writable: scan until
  // that many bits are seen or `out` is full.
  int bits = 0;
  std::size_t found = 0;
  int span = max_fd_ + 1;
  int start = resume_ < span ? resume_ : 0;
  for (int k = 0; k < span && bits < n && found < out.size(); ++k) {
    int fd = (start + k) % span;
    uint32_t mapped = 0;
    if (FD_ISSET(fd, &readable)) {
      mapped |= kReadable;
      ++bits;
    }
    if (FD_ISSET(fd, &writable)) {
      mapped |= kWritable;
      ++bits;
    }
    if (mapped == 0) continue;
    out[found++] = Ready{handlers_[static_cast<std::size_t>(fd)], mapped};
    resume_ = fd + 1;
  }
  return static_cast<int>(found);
}

}  // namespace cb::event
