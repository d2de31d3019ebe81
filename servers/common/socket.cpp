// socket.cpp: see socket.h.
#include "common/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace cb {
namespace {

void set_int_option(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) throw SysError(what, errno);
}

}  // namespace

SockAddr resolve_numeric(const std::string& host, uint16_t port) {
  SockAddr addr;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr.storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    addr.length = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    addr.length = sizeof(sockaddr_in6);
  } else {
    throw SysError("inet_pton(" + host + ")", EINVAL);
  }
  return addr;
}

int somaxconn() {
  int value = 4096;
  if (FILE* f = std::fopen("/proc/sys/net/core/somaxconn", "r")) {
    if (std::fscanf(f, "%d", &value) != 1) value = 4096;
    std::fclose(f);
  }
  return value;
}

Fd listen_tcp(const ListenOptions& options) {
  SockAddr addr = resolve_numeric(options.host, options.port);
  int type = SOCK_STREAM | SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
  Fd fd(::socket(addr.storage.ss_family, type, 0));
  if (!fd) throw SysError("socket", errno);
  set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)");
  if (options.reuse_port) {
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)");
  }
  std::string where = options.host + ":" + std::to_string(options.port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr.storage), addr.length) != 0) {
    throw SysError("bind(" + where + ")", errno);
  }
  int backlog = options.backlog > 0 ? options.backlog : somaxconn();
  if (::listen(fd.get(), backlog) != 0) throw SysError("listen(" + where + ")", errno);
  return fd;
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    throw SysError("getsockname", errno);
  }
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

void set_nodelay(int fd) {
  set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)");
}

void set_nonblocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) throw SysError("fcntl(F_GETFL)", errno);
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (::fcntl(fd, F_SETFL, flags) != 0) throw SysError("fcntl(F_SETFL)", errno);
}

Fd connect_tcp(const std::string& host, uint16_t port) {
  SockAddr addr = resolve_numeric(host, port);
  Fd fd(::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw SysError("socket", errno);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr.storage), addr.length) != 0) {
    throw SysError("connect(" + host + ":" + std::to_string(port) + ")", errno);
  }
  set_nodelay(fd.get());
  return fd;
}

AcceptGuard::AcceptGuard() : spare_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

AcceptResult AcceptGuard::accept(int listen_fd, bool nonblocking) {
  int flags = SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, flags);
    if (fd >= 0) {
      int one = 1;
      // Failure here only costs latency (Nagle), so it is not fatal.
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return {AcceptStatus::kAccepted, Fd(fd), 0};
    }
    int err = errno;
    switch (err) {
      case EINTR:
      case ECONNABORTED:  // the client gave up while queued: take the next one
        continue;
      case EAGAIN:
        return {AcceptStatus::kRetry, Fd(), err};
      case EMFILE:
      case ENFILE:
        if (spare_) {
          spare_.reset();
          Fd refused(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
          refused.reset();
          spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        }
        return {AcceptStatus::kRefusedNoFds, Fd(), err};
      default:
        return {AcceptStatus::kError, Fd(), err};
    }
  }
}

}  // namespace cb
