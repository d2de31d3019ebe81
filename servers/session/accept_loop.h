// accept_loop.h: how the blocking models (process, thread, pool:conn) wait
// for connections: poll() on the listener, the stop eventfd and an optional
// extra fd (the fork model's SIGCHLD signalfd), so SIGTERM and child exits
// wake it without relying on which thread a signal hits. What a wakeup does
// is the shared rule of session/acceptor.h.
#pragma once

#include <functional>

#include "common/fd.h"
#include "session/acceptor.h"
#include "session/context.h"

namespace cb {

struct AcceptLoopOptions {
  int extra_fd = -1;                   // watched for readability if >= 0
  std::function<void()> on_extra;      // called when extra_fd is readable
  int max_batch = Acceptor::kBatch;    // accepts per wakeup (1 for prefork)
};

// Runs until stop is requested; calls on_connection for each accepted
// (blocking, CLOEXEC, TCP_NODELAY) socket, which counts as accepted.
void run_accept_loop(ServerContext& ctx, int listen_fd, const AcceptLoopOptions& options,
                     const std::function<void(Fd)>& on_connection);

}  // namespace cb
