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
//                     (session/per_cpu.h)
//   reactor:offload   reactor:epoll plus helper threads for file reads
//                     (Flash's AMPED): a file GET whose pages are cached is
//                     served on the loop as in reactor:epoll; a cold one is
//                     read by a helper (session/offload_pool.h) while the
//                     connection is unwatched, and resumes when the loop's
//                     completion eventfd says its job is back
// reactor:uring, the io_uring proactor, is in reactor_uring.cpp.
// Idle timeout: one timer per connection, re-armed lazily: I/O only stores
// the time; a timer that fires early is re-armed for the rest. The same
// timer serves the request-head timeout (session/head_clock.h): armed, or
// brought forward, when a head starts; the session answers the 408.
// /app requests (app_step.h): their backend calls go through the loop's
// BackendMux (pipelined, non-blocking); the connection is unwatched while
// they are out and resumed by the reply. The CPU work runs on the loop
// thread and holds every other connection up meanwhile: the model's cost.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/shutdown.h"
#include "event/epoll_poller.h"
#include "event/event_loop.h"
#include "event/poll_poller.h"
#include "event/select_poller.h"
#include "session/acceptor.h"
#include "session/app_step.h"
#include "session/backend_mux.h"
#include "session/context.h"
#include "session/nb_session.h"
#include "session/offload_pool.h"
#include "session/per_cpu.h"

namespace cb {
namespace {

using event::Clock;
using event::EpollPoller;

// One read buffer per loop, shared by all of its connections (the protocol
// consumes the bytes before the next read). 64 KiB keeps large echoes to a
// few reads; per connection there is no read buffer at all.
constexpr std::size_t kScratchBytes = 64 * 1024;

enum class Trigger { kLevel, kEdge };

template <class Backend, class P, Trigger kTrigger>
class Reactor {
 public:
  // `reactors`: how many share the process (they split --backend-conns).
  template <class... BackendArgs>
  Reactor(ServerContext& ctx, int listen_fd, int reactors, BackendArgs&&... backend_args)
      : ctx_(ctx),
        acceptor_(listen_fd, ctx.stats()),
        idle_timeout_(ctx.config.idle_timeout),
        loop_(static_cast<BackendArgs&&>(backend_args)...),
        scratch_(kScratchBytes) {
    rest_.handler = &resume_;
    const ServerConfig& config = ctx.config;
    if (config.has_backend()) {
      mux_ = std::make_unique<Mux>(loop_, config.backend_host, config.backend_port,
                                   config.backend_conns_per(reactors), ctx.stats());
    }
  }
  ~Reactor() { close_all(); }

  // reactor:offload: file GETs park and cold ones go to `helpers` threads.
  void enable_offload(int helpers) {
    offload_ = std::make_unique<OffloadPool>(helpers, kOffloadQueueJobs);
    completions_ = std::make_unique<OffloadCompletions>();
  }

  // Serves until stop_fd() becomes readable; then closes every connection.
  int run() {
    bump(ctx_.stats().workers);
    loop_.watch(stop_fd(), event::kReadable, &stop_);
    loop_.watch(acceptor_.fd(), event::kReadable, &listener_);
    if (completions_) loop_.watch(completions_->fd(), event::kReadable, &offload_done_);
    loop_.run();
    close_all();
    return 0;
  }

 private:
  using Mux = BackendMux<event::EventLoop<Backend>>;
  struct Conn;
  // A request's backend calls in flight, parked in the mux.
  struct AppWait : MuxCall {
    Conn* conn = nullptr;
  };

  struct Conn : event::Handler {
    Reactor* owner;
    NbSession<P> session;
    event::Timer idle{this};  // reports kTimer to this connection
    Clock::time_point last_active{};
    bool writing = false;  // output pending: waiting for writability
    bool parked = false;   // unwatched while its /app calls or file read are out
    AppWait app{};
    OffloadJob file_job{};  // reactor:offload: its cold file's read
  };

  // The session's /app runner for one connection: calls go to the mux and
  // the connection parks; a request without calls is done on the spot.
  struct ConnRunner {
    Reactor* reactor;
    Conn* conn;
    std::optional<proto::AppOutcome> start(const proto::AppParams& p, NbSession<P>&) {
      if (p.calls == 0 || !reactor->mux_) {
        return perform_app(p, static_cast<NoBackend*>(nullptr), reactor->ctx_.stats());
      }
      conn->app.calls_left = p.calls;
      conn->app.delay_us = p.delay_us;
      conn->app.cpu_us = p.cpu_us;
      reactor->mux_->start(&conn->app);
      return std::nullopt;
    }
    // reactor:offload only (other reactors never park a file).
    std::optional<FileRead> start_file(const FileWait& w, NbSession<P>&) {
      FileRead done;
      if (!reactor->offload_) return read_file_here(w, &reactor->file_scratch_);
      if (start_file_step(w, conn->file_job, *reactor->offload_, &reactor->file_scratch_, &done,
                          reactor->ctx_.stats())) {
        return done;
      }
      return std::nullopt;
    }
  };

  static void on_conn_event(event::Handler* h, uint32_t events) {
    Conn* c = event::owner_of<Conn>(h);
    c->owner->serve(c, events);
  }

  static void on_app_done(MuxCall* call, proto::AppOutcome outcome) {
    Conn* c = static_cast<AppWait*>(call)->conn;
    c->owner->resume(c, outcome);
  }

  // The shared accept rule; level-triggered takes a batch per event (the
  // loop reports the rest), edge-triggered must drain the queue.
  void on_listener(uint32_t) {
    int batch = kTrigger == Trigger::kEdge ? Acceptor::kUntilEmpty : Acceptor::kBatch;
    auto admit_one = [this](Fd fd) { return admit(std::move(fd)); };
    if (acceptor_.accept_batch(admit_one, batch) != AcceptNext::kRest) return;
    loop_.unwatch(acceptor_.fd());
    loop_.arm_after(&rest_, Acceptor::kRest);
  }
  void on_stop(uint32_t) { loop_.stop(); }
  // Helpers handed file jobs back: resume their connections.
  void on_offload_done(uint32_t) {
    completions_->drain([this](OffloadJob* job) { resume_file(static_cast<Conn*>(job->owner)); });
  }
  void on_rest_over(uint32_t) { loop_.watch(acceptor_.fd(), event::kReadable, &listener_); }

  // False if the poller cannot hold the fd (select): refused, not accepted.
  bool admit(Fd fd) {
    if (!loop_.can_watch(fd.get())) {
      bump(ctx_.stats().errors_fd_limit);  // closed here, by ~Fd
      return false;
    }
    P protocol = make_protocol<P>(ctx_);
    if constexpr (HasFileStep<P>) protocol.set_offload_files(offload_ != nullptr);
    auto* c = new Conn{{&Reactor::on_conn_event}, this,
                       NbSession<P>(std::move(fd), std::move(protocol))};
    c->app.conn = c;
    c->app.done = &Reactor::on_app_done;
    c->file_job.owner = c;
    c->file_job.completions = completions_.get();
    live_.insert(c);
    try {
      loop_.watch(c->session.fd(), watch_mask(), c);
    } catch (const SysError&) {  // ENOMEM / max_user_watches: drop this one
      bump(ctx_.stats().errors_accept);
      close(c);
      return true;
    }
    if (idle_timeout_.count() > 0) {
      c->last_active = loop_.now();
      loop_.arm(&c->idle, c->last_active + idle_timeout_);
    }
    return true;
  }

  void serve(Conn* c, uint32_t events) {
    if (events & event::kTimer) return on_idle_timer(c);
    c->last_active = loop_.now();
    Next next = kTrigger == Trigger::kEdge ? step_edge(c, events) : step_level(c, events);
    follow(c, next);
  }

  // Watches the connection for what it waits for next.
  void follow(Conn* c, Next next) {
    if (next == Next::kClose) return close(c);
    watch_head(c);
    if (next == Next::kWaitApp || next == Next::kWaitFile) {
      // Nothing to read or write until the backend or the helper answers (a
      // hangup would otherwise be reported, level-triggered, on every turn).
      c->parked = true;
      c->writing = false;
      return loop_.unwatch(c->session.fd());
    }
    bool want_write = next == Next::kWrite;
    if (want_write == c->writing) return;
    c->writing = want_write;
    if constexpr (kTrigger == Trigger::kLevel) {
      loop_.modify(c->session.fd(), want_write ? event::kWritable : event::kReadable, c);
    }
  }

  // The backend answered this connection's /app request (or failed).
  void resume(Conn* c, proto::AppOutcome outcome) {
    unpark(c);
    ConnRunner runner{this, c};
    follow(c, c->session.resume_app(outcome, ctx_.stats(), runner));
  }

  // A helper finished this connection's file read. The body is taken out of
  // the job first: the response may park the next file on the same job.
  void resume_file(Conn* c) {
    unpark(c);
    std::string body;
    body.swap(c->file_job.body);
    FileRead read = job_result(c->file_job);
    if (c->file_job.read_body) read.body = body;
    ConnRunner runner{this, c};
    follow(c, c->session.resume_file(read, ctx_.stats(), runner));
  }

  void unpark(Conn* c) {
    c->parked = false;
    c->last_active = loop_.now();
    loop_.watch(c->session.fd(), watch_mask(), c);
  }

  // Edge-triggered: in and out once, for good; level: in, out on demand.
  static constexpr uint32_t watch_mask() {
    return kTrigger == Trigger::kEdge ? event::kReadable | event::kWritable : event::kReadable;
  }

  // Level-triggered: one read per event (the loop reports the rest).
  Next step_level(Conn* c, uint32_t events) {
    ConnRunner runner{this, c};
    if (!c->writing) return c->session.on_readable(scratch_, ctx_.stats(), false, runner);
    if (!(events & (event::kWritable | event::kHangup))) return Next::kWrite;
    return c->session.on_writable(ctx_.stats(), runner);
  }

  // Edge-triggered: an edge is not repeated, so finish the pending output,
  // then read until EAGAIN (or until output blocks again). The mask is the
  // socket's state now: not writable means a write would only say EAGAIN.
  Next step_edge(Conn* c, uint32_t events) {
    CounterBlock& stats = ctx_.stats();
    ConnRunner runner{this, c};
    if (c->writing) {
      if (!(events & (event::kWritable | event::kHangup))) return Next::kWrite;
      Next next = c->session.on_writable(stats, runner);
      if (next != Next::kRead) return next;
    } else if (!(events & event::kReadable)) {
      return Next::kRead;  // writable edge with nothing to write
    }
    return c->session.on_readable(scratch_, stats, /*until_eagain=*/true, runner);
  }

  // A request head started: the timer must fire by its deadline.
  void watch_head(Conn* c) {
    if (!c->session.head_running()) return;
    Clock::time_point due = c->session.head_due();
    if (!c->idle.armed() || due < c->idle.deadline) loop_.arm(&c->idle, due);
  }

  // The connection's timer: the head timeout first, then the idle one.
  void on_idle_timer(Conn* c) {
    Clock::time_point now = loop_.now();
    if (!c->parked && c->session.head_expired(now)) {
      return follow(c, c->session.on_head_timeout(ctx_.stats()));
    }
    if (idle_timeout_.count() == 0) return watch_head(c);
    Clock::time_point due = c->last_active + idle_timeout_;
    // A request waiting for the backend is not idle: it is the server's wait.
    if (c->parked) due = now + idle_timeout_;
    if (due > now) {
      loop_.arm(&c->idle, due);
      return watch_head(c);
    }
    bump(ctx_.stats().errors_idle_timeout);
    close(c);
  }

  void close(Conn* c) {
    if (!c->parked) loop_.unwatch(c->session.fd());  // poll and select keep closed fds otherwise
    loop_.cancel(&c->idle);
    live_.erase(c);
    delete c;  // closes the socket
    bump(ctx_.stats().connections_closed);
  }

  void close_all() {
    if (mux_) mux_->abandon_all();  // calls of connections about to be freed
    if (offload_) offload_->shutdown();  // no helper may touch a freed connection
    while (!live_.empty()) close(*live_.begin());
  }

  ServerContext& ctx_;
  Acceptor acceptor_;
  std::chrono::milliseconds idle_timeout_;
  event::EventLoop<Backend> loop_;
  std::vector<char> scratch_;
  std::unique_ptr<Mux> mux_;  // nullptr without --backend
  std::unique_ptr<OffloadPool> offload_;  // reactor:offload only
  std::unique_ptr<OffloadCompletions> completions_;
  std::string file_scratch_;  // resident file bodies, consumed at once
  std::unordered_set<Conn*> live_;  // for shutdown
  event::MemberHandler<Reactor, &Reactor::on_listener> listener_{this};
  event::MemberHandler<Reactor, &Reactor::on_stop> stop_{this};
  event::MemberHandler<Reactor, &Reactor::on_offload_done> offload_done_{this};
  event::MemberHandler<Reactor, &Reactor::on_rest_over> resume_{this};
  event::Timer rest_;
};

template <class Backend, Trigger kTrigger, class... BackendArgs>
int run_one(ServerContext& ctx, BackendArgs... backend_args) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) {
    Reactor<Backend, P, kTrigger> reactor(ctx, ctx.listener.get(), 1, backend_args...);
    return reactor.run();
  });
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

int run_reactor_offload(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) {
    Reactor<EpollPoller, P, Trigger::kLevel> reactor(ctx, ctx.listener.get(), 1,
                                                     EpollPoller::Trigger::kLevel);
    if constexpr (HasFileStep<P>) reactor.enable_offload(ctx.config.pool_workers());
    return reactor.run();
  });
}

int run_reactor_multi(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) {
    return run_per_cpu(ctx, [&](int, int listen_fd, SetUpArrival& arrival) {
      using Level = Reactor<EpollPoller, P, Trigger::kLevel>;
      Level reactor(ctx, listen_fd, ctx.config.per_cpu_workers(), EpollPoller::Trigger::kLevel);
      arrival.wait_for_all();
      return reactor.run();
    });
  });
}

}  // namespace cb
