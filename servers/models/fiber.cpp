// fiber.cpp: the fiber models, eventlet-style green threads.
//   fiber:hub    one thread, N:1: a fiber per connection runs the same
//                straight-line session loop as the thread model, and every
//                read/write that would block parks it on the epoll hub.
//   fiber:multi  one scheduler thread per server CPU (--workers overrides),
//                pinned to it, each with its own SO_REUSEPORT listener and
//                accept fiber, like Go with GOMAXPROCS=N; fibers never
//                migrate (session/per_cpu.h).
//   fiber:offload fiber:hub plus helper threads for cold file reads
//                (eventlet's tpool): a file GET whose pages are cached is
//                served in the fiber; a cold one parks the fiber until a
//                helper has read it (fiber/offload.h).
// The accept loop is itself a fiber. An /app request's backend calls run in
// its connection's fiber on a fiber::Socket borrowed from the scheduler's
// BackendPool (parking while none is free): blocking-style code, as with
// eventlet's monkey-patched sockets; its CPU work holds the scheduler. SIGTERM makes the stop eventfd
// readable; each hub sees it, wakes every parked fiber with "stopping", the
// sessions return, their connections close, and run() returns once the last
// fiber has finished (its stack back in the pool, then unmapped).
#include <cerrno>
#include <memory>
#include <span>
#include <vector>

#include "common/shutdown.h"
#include "fiber/backend_pool.h"
#include "fiber/offload.h"
#include "fiber/scheduler.h"
#include "fiber/socket.h"
#include "session/acceptor.h"
#include "session/context.h"
#include "session/offload_pool.h"
#include "session/per_cpu.h"
#include "session/session.h"

namespace cb {
namespace {

// One read buffer per scheduler thread, shared by all its fibers (see
// fiber/socket.h for why that is safe). 64 KiB lets a bulk echo move a
// full socket buffer per read; it costs nothing per connection.
constexpr std::size_t kScratchBytes = 64 * 1024;

// What the fibers of one scheduler share: the scratch buffer, the
// backend connections (nullptr without --backend) and the file helpers
// (fiber:offload only, else nullptr).
struct Shared {
  std::span<char> scratch;
  fiber::BackendPool* backend;
  fiber::FileOffload* files;
};

template <class P>
void serve_connection(ServerContext& ctx, fiber::Scheduler& sched, Fd conn, Shared shared) {
  CounterBlock& c = ctx.stats();
  {
    fiber::Socket socket(std::move(conn), sched);
    if (socket.attach()) {
      socket.set_read_timeout(ctx.config.idle_timeout);
      P protocol = make_protocol<P>(ctx);
      if constexpr (HasFileStep<P>) protocol.set_offload_files(shared.files != nullptr);
      run_session(socket, protocol, shared.scratch, c, shared.backend, shared.files);
    } else {
      bump(c.errors_spawn);
    }
  }
  bump(c.connections_closed);
}

// Hands a new connection to a fresh fiber; it runs at the next pass.
template <class P>
void start_session(ServerContext& ctx, fiber::Scheduler& sched, Fd conn, Shared shared) {
  bool started = sched.spawn([&ctx, &sched, shared, fd = std::move(conn)]() mutable {
    serve_connection<P>(ctx, sched, std::move(fd), shared);
  });
  if (!started) {  // no stack (mmap refused): the lambda, and so the fd, are gone
    bump(ctx.stats().errors_spawn);
    bump(ctx.stats().connections_closed);
  }
}

// The accept fiber: the shared accept rule, waiting the fiber way (parked
// on the hub, a yield between batches, a sleep through the rest).
template <class P>
void accept_fiber(ServerContext& ctx, fiber::Scheduler& sched, fiber::Listener& listener,
                  Shared shared) {
  Acceptor acceptor(listener.fd(), ctx.stats());
  auto admit = [&](Fd fd) { start_session<P>(ctx, sched, std::move(fd), shared); };
  while (!sched.stopping()) {
    switch (acceptor.accept_batch(admit)) {
      case AcceptNext::kWait:
        if (!listener.wait_readable()) return;
        break;
      case AcceptNext::kYield:
        fiber::yield();
        break;
      case AcceptNext::kRest:
        fiber::sleep_for(Acceptor::kRest);
        break;
    }
  }
}

// One scheduler on the calling thread, serving `listen_fd` until stop;
// `schedulers` share the process (and split --backend-conns).
// `helpers`: fiber:offload's pool of file readers (nullptr otherwise).
template <class P>
int run_scheduler(ServerContext& ctx, int listen_fd, int schedulers,
                  SetUpArrival* arrival = nullptr, OffloadPool* helpers = nullptr) {
  const ServerConfig& config = ctx.config;
  fiber::Scheduler::Options options;
  options.stack_bytes = config.stack_bytes();
  options.stop_fd = stop_fd();
  fiber::Scheduler sched(options);
  std::vector<char> scratch(kScratchBytes);
  std::unique_ptr<fiber::BackendPool> backend;
  if (config.has_backend()) {
    backend = std::make_unique<fiber::BackendPool>(sched, config.backend_host, config.backend_port,
                                                   config.backend_conns_per(schedulers),
                                                   ctx.stats());
  }
  std::unique_ptr<fiber::FileOffload> files;
  if (helpers != nullptr) files = std::make_unique<fiber::FileOffload>(sched, *helpers, ctx.stats());
  Shared shared{scratch, backend.get(), files.get()};
  // Registered before any scheduler serves (fiber:multi's set-up rule).
  fiber::Listener listener(listen_fd, sched);
  if (!sched.spawn([&] { accept_fiber<P>(ctx, sched, listener, shared); })) {
    throw SysError("mmap(fiber stack)", errno);
  }
  bump(ctx.stats().workers);
  if (arrival != nullptr) arrival->wait_for_all();
  sched.run();
  // A fiber that ended by an exception is a failure.
  return sched.failed_fibers() == 0 ? 0 : 1;
}

}  // namespace

int run_fiber_hub(ServerContext& ctx) {
  return with_protocol(
      ctx, [&]<class P>(ProtoTag<P>) { return run_scheduler<P>(ctx, ctx.listener.get(), 1); });
}

int run_fiber_offload(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) {
    // Outlives the scheduler: every fiber that waits on a job has finished
    // before run_scheduler returns and the helpers are joined.
    std::unique_ptr<OffloadPool> helpers;
    if constexpr (HasFileStep<P>) {
      helpers = std::make_unique<OffloadPool>(ctx.config.pool_workers(), kOffloadQueueJobs);
    }
    return run_scheduler<P>(ctx, ctx.listener.get(), 1, nullptr, helpers.get());
  });
}

int run_fiber_multi(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) {
    return run_per_cpu(ctx, [&](int, int listen_fd, SetUpArrival& arrival) {
      return run_scheduler<P>(ctx, listen_fd, ctx.config.per_cpu_workers(), &arrival);
    });
  });
}

}  // namespace cb
