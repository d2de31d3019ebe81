// epoll_poller.cpp: see epoll_poller.h.
#include "event/epoll_poller.h"

#include <sys/epoll.h>

#include <cerrno>

#include "common/status.h"

namespace cb::event {

EpollPoller::EpollPoller(Trigger trigger) : epoll_(::epoll_create1(EPOLL_CLOEXEC)), trigger_(trigger) {
  if (!epoll_) throw SysError("epoll_create1", errno);
}

uint32_t EpollPoller::to_epoll(uint32_t events) const {
  uint32_t e = 0;
  if (events & kReadable) e |= EPOLLIN | EPOLLRDHUP;
  if (events & kWritable) e |= EPOLLOUT;
  if (trigger_ == Trigger::kEdge) e |= EPOLLET;
  if (trigger_ == Trigger::kOneShot) e |= EPOLLONESHOT;
  return e;
}

void EpollPoller::add(int fd, uint32_t events, Handler* h) {
  epoll_event ev{};
  ev.events = to_epoll(events);
  ev.data.ptr = h;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw SysError("epoll_ctl(ADD)", errno);
  }
}

void EpollPoller::modify(int fd, uint32_t events, Handler* h) {
  epoll_event ev{};
  ev.events = to_epoll(events);
  ev.data.ptr = h;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    throw SysError("epoll_ctl(MOD)", errno);
  }
}

void EpollPoller::remove(int fd) {
  // ENOENT/EBADF: already gone (closing the fd removes it); nothing to undo.
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

int EpollPoller::wait(std::span<Ready> out, std::chrono::nanoseconds timeout) {
  if (raw_.size() < out.size() * sizeof(epoll_event)) raw_.resize(out.size() * sizeof(epoll_event));
  auto* events = reinterpret_cast<epoll_event*>(raw_.data());
  int max = static_cast<int>(out.size());
  int n;
  if (timeout.count() < 0) {
    n = ::epoll_pwait(epoll_.get(), events, max, -1, wait_mask_);
  } else {
    // epoll_pwait2 takes a timespec: sub-millisecond timers (open-loop load
    // generation) need it; epoll_wait would round up to whole milliseconds.
    timespec ts = to_timespec<timespec>(timeout);
    n = ::epoll_pwait2(epoll_.get(), events, max, &ts, wait_mask_);
  }
  if (n < 0) {
    if (errno == EINTR) return 0;
    throw SysError("epoll_wait", errno);
  }
  for (int i = 0; i < n; ++i) {
    uint32_t e = events[i].events;
    uint32_t mapped = 0;
    if (e & (EPOLLIN | EPOLLPRI)) mapped |= kReadable;
    if (e & EPOLLOUT) mapped |= kWritable;
    // Errors and hangups are delivered as readable so the owner's next read
    // sees the error or EOF and cleans up in one place.
    if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) mapped |= kHangup | kReadable;
    out[static_cast<std::size_t>(i)] = Ready{static_cast<Handler*>(events[i].data.ptr), mapped};
  }
  return n;
}

}  // namespace cb::event
