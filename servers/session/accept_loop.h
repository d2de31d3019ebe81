// accept_loop.h: the accept loop of the blocking models (process, thread,
// pool:conn). It waits with poll() on the listener, the stop eventfd and an
// optional extra fd (the fork model's SIGCHLD signalfd), so SIGTERM and
// child exits wake it without relying on which thread a signal hits.
#pragma once

#include <functional>

#include "common/fd.h"
#include "models/model.h"

namespace cb {

struct AcceptLoopOptions {
  int extra_fd = -1;                   // watched for readability if >= 0
  std::function<void()> on_extra;      // called when extra_fd is readable
  int max_batch = 64;                  // accepts per wakeup (1 for prefork)
};

// Runs until stop is requested; calls on_connection for each accepted
// (blocking, CLOEXEC, TCP_NODELAY) socket. Accept failures are counted.
void run_accept_loop(ServerContext& ctx, int listen_fd, const AcceptLoopOptions& options,
                     const std::function<void(Fd)>& on_connection);

}  // namespace cb
