// socket.h: fiber-aware sockets. fiber::Socket is the Stream that
// run_session (session/session.h) drives under fibers: read, write and
// sendfile look blocking to the session, but on EAGAIN they park the fiber
// on the hub until the fd is ready, and other fibers run meanwhile.
// fiber::Listener parks an accepting fiber the same way.
//
// Results seen by the session: a read that waited longer than the read
// timeout returns kRetry (counted as an idle timeout, as SO_RCVTIMEO does for
// the blocking models); any call interrupted by stop, and every read once
// stop was requested, returns kClosed with error ECANCELED, so the session
// ends quietly and releases the connection.
//
// A read into a buffer shared by every fiber of the thread (the scratch
// buffer) is safe: the fiber parks only before the read(2), never between
// the read filling the buffer and the caller consuming it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string_view>

#include "common/fd.h"
#include "common/socket.h"
#include "common/status.h"
#include "fiber/scheduler.h"

namespace cb::fiber {

class Socket {
 public:
  // Takes a connected non-blocking socket; attach() must succeed before use.
  Socket(Fd fd, Scheduler& scheduler) : fd_(std::move(fd)), scheduler_(&scheduler) {}
  Socket(const Socket&) = delete;  // the hub holds &wait_
  Socket& operator=(const Socket&) = delete;

  // Registers the fd with the hub; false if epoll refused it (ENOMEM).
  bool attach();
  // Reads that wait longer than this return kRetry; zero means never.
  void set_read_timeout(std::chrono::milliseconds timeout) { read_timeout_ = timeout; }
  std::chrono::milliseconds read_timeout() const { return read_timeout_; }

  int fd() const { return fd_.get(); }
  IoResult read(std::span<char> into);
  IoResult write(std::string_view bytes);
  IoResult sendfile(int file_fd, off_t* offset, std::size_t count);

 private:
  // Runs op() until it does not say "would block", parking in between.
  template <class Op>
  IoResult until_done(uint32_t events, Clock::time_point deadline, Op op);

  Fd fd_;
  Scheduler* scheduler_;
  FdWait wait_;
  std::chrono::milliseconds read_timeout_{0};
};

class Listener {
 public:
  // Borrows a non-blocking listening socket and registers it with the hub
  // (throws SysError if epoll refuses).
  Listener(int listen_fd, Scheduler& scheduler);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int fd() const { return fd_; }
  // Parks until a connection is queued; false once stop was requested.
  // Accepting is the shared rule's job (session/acceptor.h).
  bool wait_readable();

 private:
  int fd_;
  Scheduler* scheduler_;
  FdWait wait_;
};

}  // namespace cb::fiber
