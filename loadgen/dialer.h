// dialer.h: socket setup for the load generator's connections: a
// non-blocking TCP socket with TCP_NODELAY, bound to the connection's source
// address (--source-ips, with IP_BIND_ADDRESS_NO_PORT), and connect()
// started. The addresses are resolved once per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "common/fd.h"
#include "common/socket.h"
#include "config.h"

namespace cb::loadgen {

struct DialResult {
  Fd fd;          // connecting (or connected); invalid on failure
  int error = 0;  // errno of the call that failed
};

class Dialer {
 public:
  // Throws SysError for an address that does not parse (the config was
  // validated, so this is set-up, never the hot path).
  explicit Dialer(const LoadConfig& config);
  // Starts connection `conn_id`'s connect; source_ips[conn_id % size] if any.
  DialResult start(uint32_t conn_id) const;

 private:
  SockAddr target_;
  std::vector<SockAddr> sources_;
};

// A connect that became writable: 0 if it succeeded, else its errno.
int connect_error(int fd);

}  // namespace cb::loadgen
