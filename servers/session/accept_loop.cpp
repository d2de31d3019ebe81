// accept_loop.cpp: see accept_loop.h.
#include "session/accept_loop.h"

#include <poll.h>

#include <cerrno>

#include "common/shutdown.h"
#include "common/socket.h"
#include "common/status.h"

namespace cb {
namespace {

// After the fd limit refused a connection, the listener is left alone this
// long, so a queue of refused clients cannot turn the loop into a spin.
constexpr int kNoFdsBackoffMs = 10;

// Sleeps until the backoff passes or stop is requested.
void backoff_after_no_fds() {
  pollfd stop{stop_fd(), POLLIN, 0};
  (void)::poll(&stop, 1, kNoFdsBackoffMs);
}

}  // namespace

void run_accept_loop(ServerContext& ctx, int listen_fd, const AcceptLoopOptions& options,
                     const std::function<void(Fd)>& on_connection) {
  AcceptGuard guard;
  CounterBlock& c = ctx.stats();
  pollfd fds[3] = {{listen_fd, POLLIN, 0}, {stop_fd(), POLLIN, 0}, {options.extra_fd, POLLIN, 0}};
  nfds_t count = options.extra_fd >= 0 ? 3 : 2;
  while (!stop_requested()) {
    int n = ::poll(fds, count, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SysError("poll(listener)", errno);
    }
    if (count == 3 && (fds[2].revents & POLLIN) && options.on_extra) options.on_extra();
    if (stop_requested()) break;
    if (!(fds[0].revents & POLLIN)) continue;
    for (int i = 0; i < options.max_batch; ++i) {
      AcceptResult a = guard.accept(listen_fd, /*nonblocking=*/false);
      if (a.status == AcceptStatus::kAccepted) {
        bump(c.connections_accepted);
        on_connection(std::move(a.fd));
        continue;
      }
      if (a.status == AcceptStatus::kRefusedNoFds) {
        bump(c.errors_no_fds);
        backoff_after_no_fds();
      } else if (a.status == AcceptStatus::kError) {
        bump(c.errors_accept);
      }
      break;
    }
  }
}

}  // namespace cb
