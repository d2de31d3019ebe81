// reactor.cpp: the event-driven model. One thread runs an EventLoop; a
// connection is a Handler plus an NbSession (fd, protocol state, output
// queue) whose callback reads, lets the protocol answer and writes without
// ever blocking. Variants differ only in the poller and how it triggers:
//   reactor:epoll     level-triggered epoll (default): one read per event, no
//                     EAGAIN read; EPOLLOUT is watched only while output waits
//   reactor:epoll-et  edge-triggered: each fd registered once for in + out
//                     (no epoll_ctl per request); reads and accepts to EAGAIN
//   reactor:poll      poll(2) behind the same loop
//   reactor:select    select(2); an fd >= FD_SETSIZE is refused and counted
//                     in errors_fd_limit, never put in an fd_set
//   reactor:multi     one level-triggered epoll reactor per server CPU, each
//                     with its own SO_REUSEPORT listener, pinned to its CPU
// reactor:uring, the io_uring proactor, is in reactor_uring.cpp.
// Idle timeout: one timer per connection, re-armed lazily: I/O only stores
// the time; a timer that fires early is re-armed for the rest.
#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <latch>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/cpu.h"
#include "common/shutdown.h"
#include "common/socket.h"
#include "event/epoll_poller.h"
#include "event/event_loop.h"
#include "event/poll_poller.h"
#include "event/select_poller.h"
#include "models/model.h"
#include "session/make_protocol.h"
#include "session/nb_session.h"

namespace cb {
namespace {

using event::Clock;
using event::EpollPoller;

// One read buffer per loop, shared by all of its connections (the protocol
// consumes the bytes before the next read). 64 KiB keeps large echoes to a
// few reads; per connection there is no read buffer at all.
constexpr std::size_t kScratchBytes = 64 * 1024;
// Accepts per readiness event when level-triggered: a connect storm cannot
// starve established connections, and the rest are reported again.
constexpr int kAcceptBatch = 64;
// After the fd limit refused a connection, or accept failed, the listener is
// left unwatched this long, so a full backlog cannot make the loop spin.
constexpr std::chrono::milliseconds kAcceptBackoff{10};

enum class Trigger { kLevel, kEdge };

template <class Backend, class P, Trigger kTrigger>
class Reactor {
 public:
  template <class... BackendArgs>
  Reactor(ServerContext& ctx, int listen_fd, BackendArgs&&... backend_args)
      : ctx_(ctx),
        listen_fd_(listen_fd),
        idle_timeout_(ctx.config.idle_timeout),
        loop_(static_cast<BackendArgs&&>(backend_args)...),
        scratch_(kScratchBytes) {
    backoff_.handler = &resume_;
  }
  ~Reactor() { close_all(); }

  // Serves until stop_fd() becomes readable; then closes every connection.
  int run() {
    bump(ctx_.stats().workers);
    loop_.watch(stop_fd(), event::kReadable, &stop_);
    loop_.watch(listen_fd_, event::kReadable, &listener_);
    loop_.run();
    close_all();
    return 0;
  }

 private:
  // Handler first (as a base) so the loop's Handler* leads straight back.
  struct Conn : event::Handler {
    Reactor* owner;
    NbSession<P> session;
    event::Timer idle{this};  // reports kTimer to this connection
    Clock::time_point last_active{};
    bool writing = false;  // output pending: waiting for writability
  };

  // The listener, the stop eventfd and the accept back-off timer.
  struct Hook : event::Handler {
    Reactor* owner;
  };

  static void on_conn_event(event::Handler* h, uint32_t events) {
    auto* c = static_cast<Conn*>(h);
    c->owner->serve(c, events);
  }
  static void on_listener(event::Handler* h, uint32_t) {
    static_cast<Hook*>(h)->owner->accept_ready();
  }
  static void on_stop(event::Handler* h, uint32_t) { static_cast<Hook*>(h)->owner->loop_.stop(); }
  static void on_resume(event::Handler* h, uint32_t) {
    Reactor* r = static_cast<Hook*>(h)->owner;
    r->loop_.watch(r->listen_fd_, event::kReadable, &r->listener_);
  }

  void accept_ready() {
    for (int i = 0; kTrigger == Trigger::kEdge || i < kAcceptBatch; ++i) {
      AcceptResult a = guard_.accept(listen_fd_, /*nonblocking=*/true);
      if (a.status == AcceptStatus::kRetry) return;
      if (a.status == AcceptStatus::kAccepted) {
        admit(std::move(a.fd));
        continue;
      }
      CounterBlock& stats = ctx_.stats();
      bump(a.status == AcceptStatus::kRefusedNoFds ? stats.errors_no_fds : stats.errors_accept);
      loop_.unwatch(listen_fd_);
      return loop_.arm_after(&backoff_, kAcceptBackoff);
    }
  }

  void admit(Fd fd) {
    if (!loop_.can_watch(fd.get())) {
      bump(ctx_.stats().errors_fd_limit);  // closed here, by ~Fd
      return;
    }
    bump(ctx_.stats().connections_accepted);
    auto* c = new Conn{
        {&Reactor::on_conn_event}, this, NbSession<P>(std::move(fd), make_protocol<P>(ctx_))};
    live_.insert(c);
    try {
      // Edge-triggered: in and out once, for good; level: in, out on demand.
      loop_.watch(
          c->session.fd(),
          kTrigger == Trigger::kEdge ? event::kReadable | event::kWritable : event::kReadable, c);
    } catch (const SysError&) {  // ENOMEM / max_user_watches: drop this one
      bump(ctx_.stats().errors_accept);
      close(c);
      return;
    }
    if (idle_timeout_.count() > 0) {
      c->last_active = loop_.now();
      loop_.arm(&c->idle, c->last_active + idle_timeout_);
    }
  }

  void serve(Conn* c, uint32_t events) {
    if (events & event::kTimer) return on_idle_timer(c);
    c->last_active = loop_.now();
    Next next = kTrigger == Trigger::kEdge ? step_edge(c, events) : step_level(c, events);
    if (next == Next::kClose) return close(c);
    bool want_write = next == Next::kWrite;
    if (want_write == c->writing) return;
    c->writing = want_write;
    if constexpr (kTrigger == Trigger::kLevel) {
      loop_.modify(c->session.fd(), want_write ? event::kWritable : event::kReadable, c);
    }
  }

  // Level-triggered: one read per event (the loop reports the rest).
  Next step_level(Conn* c, uint32_t events) {
    if (!c->writing) return c->session.on_readable(scratch_, ctx_.stats(), /*until_eagain=*/false);
    if (!(events & (event::kWritable | event::kHangup))) return Next::kWrite;
    return c->session.on_writable(ctx_.stats());
  }

  // Edge-triggered: an edge is not repeated, so finish the pending output,
  // then read until EAGAIN (or until output blocks again). The mask is the
  // socket's state now: not writable means a write would only say EAGAIN.
  Next step_edge(Conn* c, uint32_t events) {
    CounterBlock& stats = ctx_.stats();
    if (c->writing) {
      if (!(events & (event::kWritable | event::kHangup))) return Next::kWrite;
      Next next = c->session.on_writable(stats);
      if (next != Next::kRead) return next;
    } else if (!(events & event::kReadable)) {
      return Next::kRead;  // writable edge with nothing to write
    }
    return c->session.on_readable(scratch_, stats, /*until_eagain=*/true);
  }

  void on_idle_timer(Conn* c) {
    Clock::time_point due = c->last_active + idle_timeout_;
    if (due > loop_.now()) return loop_.arm(&c->idle, due);
    bump(ctx_.stats().errors_idle_timeout);
    close(c);
  }

  void close(Conn* c) {
    loop_.unwatch(c->session.fd());  // poll and select keep closed fds otherwise
    loop_.cancel(&c->idle);
    live_.erase(c);
    delete c;  // closes the socket
    bump(ctx_.stats().connections_closed);
  }

  void close_all() {
    while (!live_.empty()) close(*live_.begin());
  }

  ServerContext& ctx_;
  int listen_fd_;
  std::chrono::milliseconds idle_timeout_;
  event::EventLoop<Backend> loop_;
  std::vector<char> scratch_;
  AcceptGuard guard_;
  std::unordered_set<Conn*> live_;  // for shutdown
  Hook listener_{{&Reactor::on_listener}, this};
  Hook stop_{{&Reactor::on_stop}, this};
  Hook resume_{{&Reactor::on_resume}, this};
  event::Timer backoff_;
};

template <class Backend, Trigger kTrigger, class... BackendArgs>
int run_one(ServerContext& ctx, BackendArgs... backend_args) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) {
    Reactor<Backend, P, kTrigger> reactor(ctx, ctx.listener.get(), backend_args...);
    return reactor.run();
  });
}

template <class P>
int run_multi(ServerContext& ctx) {
  std::vector<int> cpus = allowed_cpus();
  std::size_t n = ctx.config.workers > 0 ? static_cast<std::size_t>(ctx.config.workers)
                                         : std::max<std::size_t>(cpus.size(), 1);
  // Reactor 0 serves the listener main opened: with SO_REUSEPORT the kernel
  // hashes connections to it as well, so it must not go unserved.
  std::vector<Fd> extra;
  for (std::size_t i = 1; i < n; ++i) extra.push_back(ctx.open_reuseport_listener(true));
  std::vector<int> exit_codes(n, 1);
  std::latch all_set_up(static_cast<std::ptrdiff_t>(n));
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < n; ++i) {
      int fd = i == 0 ? ctx.listener.get() : extra[i - 1].get();
      threads.emplace_back([&, i, fd] {
        // Unpinned still works, only less predictably: not worth failing for.
        if (!cpus.empty()) (void)pin_current_thread({cpus[i % cpus.size()]});
        try {
          SetUpArrival arrival(&all_set_up);
          Reactor<EpollPoller, P, Trigger::kLevel> reactor(ctx, fd, EpollPoller::Trigger::kLevel);
          arrival.wait_for_all();
          exit_codes[i] = reactor.run();
        } catch (const std::exception& e) {
          fmt::print(stderr, "bench_server: reactor {}: {}\n", i, e.what());
          request_stop();  // one reactor failed: bring the others down too
        }
      });
    }
  }
  for (int code : exit_codes) {
    if (code != 0) return code;
  }
  return 0;
}

}  // namespace

int run_reactor_epoll(ServerContext& ctx) {
  return run_one<EpollPoller, Trigger::kLevel>(ctx, EpollPoller::Trigger::kLevel);
}

int run_reactor_epoll_et(ServerContext& ctx) {
  return run_one<EpollPoller, Trigger::kEdge>(ctx, EpollPoller::Trigger::kEdge);
}

int run_reactor_poll(ServerContext& ctx) {
  return run_one<event::PollPoller, Trigger::kLevel>(ctx);
}

int run_reactor_select(ServerContext& ctx) {
  return run_one<event::SelectPoller, Trigger::kLevel>(ctx);
}

int run_reactor_multi(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) { return run_multi<P>(ctx); });
}

}  // namespace cb
