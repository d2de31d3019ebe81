// socket.h: TCP socket setup shared by every server model, the load generator
// and the tests. Setup helpers throw SysError naming the failing call; the
// accept helper is on the hot path and returns a status instead.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "common/fd.h"
#include "common/status.h"

namespace cb {

struct ListenOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;        // 0 = let the kernel pick (tests read it back)
  bool reuse_port = false;  // SO_REUSEPORT: one listener per reactor/scheduler
  bool nonblocking = false;
  int backlog = 0;          // 0 = net.core.somaxconn, so C10K bursts queue
};

// socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen.
Fd listen_tcp(const ListenOptions& options);

// The port a bound socket ended up on.
uint16_t local_port(int fd);

// net.core.somaxconn, the largest backlog the kernel honours (4096 here).
int somaxconn();

// Parses "127.0.0.1" or "::1" plus a port into a sockaddr_storage.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t length = 0;
};
SockAddr resolve_numeric(const std::string& host, uint16_t port);

// Blocking connect with TCP_NODELAY, for tests and tools.
Fd connect_tcp(const std::string& host, uint16_t port);

void set_nodelay(int fd);
void set_nonblocking(int fd, bool on);

// accept4 with SOCK_CLOEXEC (and SOCK_NONBLOCK when asked) and TCP_NODELAY.
//
// EMFILE/ENFILE would otherwise leave the connection in the backlog, so a
// level-triggered poller reports the listener ready forever (a busy spin).
// AcceptGuard keeps one spare descriptor: on EMFILE it frees the spare,
// accepts the connection, closes it at once (the client sees a clean close),
// and takes the spare back. The listener stays open and nothing spins.
enum class AcceptStatus { kAccepted, kRetry, kRefusedNoFds, kError };

struct AcceptResult {
  AcceptStatus status = AcceptStatus::kRetry;
  Fd fd;
  int error = 0;
};

class AcceptGuard {
 public:
  AcceptGuard();
  AcceptResult accept(int listen_fd, bool nonblocking);

 private:
  Fd spare_;
};

}  // namespace cb
