// context.cpp: see context.h.
#include "session/context.h"

#include "common/socket.h"

namespace cb {

Fd ServerContext::open_reuseport_listener(bool nonblocking) const {
  ListenOptions options;
  options.host = config.host;
  options.port = local_port(listener.get());
  options.reuse_port = true;
  options.nonblocking = nonblocking;
  return listen_tcp(options);
}

}  // namespace cb
