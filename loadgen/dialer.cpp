// dialer.cpp: see dialer.h.
#include "dialer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

namespace cb::loadgen {

Dialer::Dialer(const LoadConfig& config) : target_(resolve_numeric(config.host, config.port)) {
  for (const std::string& ip : config.source_ips) sources_.push_back(resolve_numeric(ip, 0));
}

DialResult Dialer::start(uint32_t conn_id) const {
  const sockaddr* addr = reinterpret_cast<const sockaddr*>(&target_.storage);
  Fd fd(::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return {Fd(), errno};
  int one = 1;
  (void)::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // only costs latency
  if (!sources_.empty()) {
    const SockAddr& src = sources_[conn_id % sources_.size()];
    // Defer the port choice to connect(), so ports are unique per
    // (source, destination) pair rather than per source address.
    if (::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0 ||
        ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&src.storage), src.length) != 0) {
      return {Fd(), errno};
    }
  }
  if (::connect(fd.get(), addr, target_.length) != 0 && errno != EINPROGRESS) {
    return {Fd(), errno};
  }
  return {std::move(fd), 0};
}

int connect_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  return err;
}

}  // namespace cb::loadgen
