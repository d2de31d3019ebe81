// pipeline.cpp: see pipeline.h.
#include "pipeline.h"

#include <sys/socket.h>

#include <cerrno>

namespace cb::loadgen {

ssize_t send_iov(int fd, const iovec* iov, int n) {
  ssize_t written;
  if (n == 1) {
    do written = ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    while (written < 0 && errno == EINTR);
    return written;
  }
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<std::size_t>(n);
  do written = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  while (written < 0 && errno == EINTR);
  return written;
}

}  // namespace cb::loadgen
