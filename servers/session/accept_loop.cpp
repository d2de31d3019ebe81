// accept_loop.cpp: see accept_loop.h.
#include "session/accept_loop.h"

#include <poll.h>

#include <cerrno>

#include "common/shutdown.h"
#include "common/status.h"

namespace cb {
namespace {

// Sleeps through the acceptor's rest, or until stop is requested.
void rest() {
  pollfd stop{stop_fd(), POLLIN, 0};
  (void)::poll(&stop, 1, static_cast<int>(Acceptor::kRest.count()));
}

}  // namespace

void run_accept_loop(ServerContext& ctx, int listen_fd, const AcceptLoopOptions& options,
                     const std::function<void(Fd)>& on_connection) {
  Acceptor acceptor(listen_fd, ctx.stats(), /*blocking_sockets=*/true);
  pollfd fds[3] = {{listen_fd, POLLIN, 0}, {stop_fd(), POLLIN, 0}, {options.extra_fd, POLLIN, 0}};
  nfds_t count = options.extra_fd >= 0 ? 3 : 2;
  auto admit = [&](Fd fd) { on_connection(std::move(fd)); };
  while (!stop_requested()) {
    int n = ::poll(fds, count, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SysError("poll(listener)", errno);
    }
    if (count == 3 && (fds[2].revents & POLLIN) && options.on_extra) options.on_extra();
    if (stop_requested()) break;
    if (!(fds[0].revents & POLLIN)) continue;
    if (acceptor.accept_batch(admit, options.max_batch) == AcceptNext::kRest) rest();
  }
}

}  // namespace cb
