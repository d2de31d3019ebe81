// socket.cpp: see socket.h.
#include "fiber/socket.h"

#include <cerrno>

#include "common/io.h"

namespace cb::fiber {

namespace {

IoResult stopped() { return {IoStatus::kClosed, 0, ECANCELED}; }
IoResult timed_out() { return {IoStatus::kRetry, 0, ETIMEDOUT}; }

}  // namespace

bool Socket::attach() {
  try {
    scheduler_->watch(fd_.get(), wait_);
    return true;
  } catch (const SysError&) {
    return false;
  }
}

template <class Op>
IoResult Socket::until_done(uint32_t events, Clock::time_point deadline, Op op) {
  for (;;) {
    IoResult r = op();
    if (r.status != IoStatus::kRetry) return r;
    switch (scheduler_->wait_fd(wait_, events, deadline)) {
      case Wake::kReady:
        break;
      case Wake::kTimeout:
        return timed_out();
      case Wake::kStopping:
        return stopped();
    }
  }
}

// A short read leaves the socket drained, so the next read parks before
// trying instead of spending a read(2) to hear EAGAIN: for request/response
// traffic that is one syscall in three. Why no wakeup can be lost: the
// kernel's TCP and Unix stream reads copy until the buffer is full or the
// receive queue is empty, and data queued after that triggers a new
// wakeup, which epoll keeps on its ready list until the hub collects it,
// necessarily after this fiber parks (one thread). The exception is an
// edge the hub collected *before* the read for something the read leaves
// behind: end of stream or an error after the data. Those come with a
// hangup flag (EPOLLRDHUP/HUP/ERR), which makes every later read try. (Urgent
// data can also end a read early; a client sending it only stalls itself
// until it sends more, the idle timeout or stop.)
IoResult Socket::read(std::span<char> into) {
  // After stop a session ends at its next read even if its peer keeps the
  // socket busy (a blocking model gets the same from shutdown(2)).
  if (scheduler_->stopping()) return stopped();
  Clock::time_point deadline =
      read_timeout_.count() > 0 ? Clock::now() + read_timeout_ : kNoDeadline;
  for (;;) {
    if (wait_.may_be_readable()) {
      IoResult r = io::read_some(fd_.get(), into);
      if (r.status != IoStatus::kRetry) {
        if (r.ok() && r.bytes < into.size()) wait_.mark_drained();
        return r;
      }
      wait_.mark_drained();
    }
    switch (scheduler_->wait_fd(wait_, event::kReadable, deadline)) {
      case Wake::kReady:
        break;
      case Wake::kTimeout:
        return timed_out();
      case Wake::kStopping:
        return stopped();
    }
  }
}

IoResult Socket::write(std::string_view bytes) {
  return until_done(event::kWritable, kNoDeadline,
                    [&] { return io::write_some(fd_.get(), bytes); });
}

IoResult Socket::sendfile(int file_fd, off_t* offset, std::size_t count) {
  return until_done(event::kWritable, kNoDeadline,
                    [&] { return io::sendfile_some(fd_.get(), file_fd, offset, count); });
}

Listener::Listener(int listen_fd, Scheduler& scheduler) : fd_(listen_fd), scheduler_(&scheduler) {
  scheduler_->watch(fd_, wait_);
}

bool Listener::wait_readable() {
  return scheduler_->wait_fd(wait_, event::kReadable) != Wake::kStopping;
}

}  // namespace cb::fiber
