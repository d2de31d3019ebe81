// fiber.cpp: the fiber models, eventlet-style green threads.
//   fiber:hub    one thread, N:1: a fiber per connection runs the same
//                straight-line session loop as the thread model, and every
//                read/write that would block parks it on the epoll hub.
//   fiber:multi  one scheduler thread per server CPU (--workers overrides),
//                pinned to it, each with its own SO_REUSEPORT listener and
//                accept fiber,
//                like Go with GOMAXPROCS=N; fibers never migrate.
// The accept loop is itself a fiber. SIGTERM makes the stop eventfd
// readable; each hub sees it, wakes every parked fiber with "stopping", the
// sessions return, their connections close, and run() returns once the last
// fiber has finished (its stack back in the pool, then unmapped).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <exception>
#include <latch>
#include <span>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/cpu.h"
#include "common/shutdown.h"
#include "fiber/scheduler.h"
#include "fiber/socket.h"
#include "models/model.h"
#include "session/make_protocol.h"
#include "session/session.h"

namespace cb {
namespace {

// One read buffer per scheduler thread, shared by all its fibers (see
// fiber/socket.h for why that is safe). 64 KiB lets a bulk echo move a
// full socket buffer per read; it costs nothing per connection.
constexpr std::size_t kScratchBytes = 64 * 1024;
// After the fd limit refused a connection the accept fiber sleeps this long,
// so a queue of refused clients cannot turn it into a spin.
constexpr std::chrono::milliseconds kNoFdsBackoff{10};
// Accepts in a row before the accept fiber lets the new sessions run.
constexpr int kAcceptBatch = 64;

// Sanitizer runtimes need far deeper stacks than the code itself; a fiber
// must still hold the session loop, the protocol and libc below 16 KiB.
#if defined(CB_ASAN) || defined(CB_TSAN)
constexpr std::size_t kMinStackBytes = 1024 * 1024;
#else
constexpr std::size_t kMinStackBytes = 16 * 1024;
#endif

template <class P>
void serve_connection(ServerContext& ctx, fiber::Scheduler& sched, Fd conn,
                      std::span<char> scratch) {
  CounterBlock& c = ctx.stats();
  {
    fiber::Socket socket(std::move(conn), sched);
    if (socket.attach()) {
      socket.set_read_timeout(ctx.config.idle_timeout);
      P protocol = make_protocol<P>(ctx);
      run_session(socket, protocol, scratch, c);
    } else {
      bump(c.errors_spawn);
    }
  }
  bump(c.connections_closed);
}

// Hands a new connection to a fresh fiber; it runs at the next pass.
template <class P>
void start_session(ServerContext& ctx, fiber::Scheduler& sched, Fd conn,
                   std::span<char> scratch) {
  bool started = sched.spawn([&ctx, &sched, scratch, fd = std::move(conn)]() mutable {
    serve_connection<P>(ctx, sched, std::move(fd), scratch);
  });
  if (!started) {  // no stack (mmap refused): the lambda, and so the fd, are gone
    bump(ctx.stats().errors_spawn);
    bump(ctx.stats().connections_closed);
  }
}

template <class P>
void accept_fiber(ServerContext& ctx, fiber::Scheduler& sched, fiber::Listener& listener,
                  std::span<char> scratch) {
  CounterBlock& c = ctx.stats();
  int in_a_row = 0;
  while (!sched.stopping()) {
    AcceptResult a = listener.accept();
    switch (a.status) {
      case AcceptStatus::kAccepted:
        bump(c.connections_accepted);
        start_session<P>(ctx, sched, std::move(a.fd), scratch);
        if (++in_a_row == kAcceptBatch) {
          in_a_row = 0;
          fiber::yield();
        }
        continue;
      case AcceptStatus::kRefusedNoFds:
        bump(c.errors_no_fds);
        fiber::sleep_for(kNoFdsBackoff);
        break;
      case AcceptStatus::kError:  // ENOBUFS and friends: back off the same way
        bump(c.errors_accept);
        fiber::sleep_for(kNoFdsBackoff);
        break;
      case AcceptStatus::kRetry:  // stopping
        break;
    }
    in_a_row = 0;
  }
}

// One scheduler on the calling thread, serving `listen_fd` until stop
// (fiber:multi passes the latch its schedulers meet at once set up).
template <class P>
int run_scheduler(ServerContext& ctx, int listen_fd, std::latch* all_set_up = nullptr) {
  SetUpArrival arrival(all_set_up);
  fiber::Scheduler::Options options;
  options.stack_bytes = std::max(ctx.config.stack_size, kMinStackBytes);
  options.stop_fd = stop_fd();
  fiber::Scheduler sched(options);
  std::vector<char> scratch(kScratchBytes);
  std::span<char> buffer(scratch);
  // Registered (and its spare descriptor opened) before any scheduler serves.
  fiber::Listener listener(listen_fd, sched);
  if (!sched.spawn([&] { accept_fiber<P>(ctx, sched, listener, buffer); })) {
    throw SysError("mmap(fiber stack)", errno);
  }
  bump(ctx.stats().workers);
  arrival.wait_for_all();
  sched.run();
  // A fiber that ended by an exception is a failure.
  return sched.failed_fibers() == 0 ? 0 : 1;
}

template <class P>
int run_multi(ServerContext& ctx) {
  std::vector<int> cpus = allowed_cpus();
  int n = ctx.config.workers > 0 ? ctx.config.workers : ctx.config.server_cpus;
  std::vector<Fd> listeners;
  for (int i = 1; i < n; ++i) listeners.push_back(ctx.open_reuseport_listener(/*nonblocking=*/true));
  std::atomic<int> failures{0};
  std::latch all_set_up(n);
  // Scheduler i serves listener i on CPU i of the set (the main thread is 0).
  auto serve = [&](int i, int listen_fd) {
    // Unpinned still works, only less predictably: not worth failing for.
    if (!cpus.empty()) (void)pin_current_thread({cpus[static_cast<std::size_t>(i) % cpus.size()]});
    try {
      if (run_scheduler<P>(ctx, listen_fd, &all_set_up) != 0) failures.fetch_add(1);
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench_server: fiber scheduler: {}\n", e.what());
      failures.fetch_add(1);
      request_stop();  // take the other schedulers down too
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) {
    threads.emplace_back(serve, i, listeners[static_cast<std::size_t>(i - 1)].get());
  }
  serve(0, ctx.listener.get());
  for (std::thread& t : threads) t.join();
  return failures.load() == 0 ? 0 : 1;
}

}  // namespace

int run_fiber_hub(ServerContext& ctx) {
  return with_protocol(ctx,
                       [&]<class P>(ProtoTag<P>) { return run_scheduler<P>(ctx, ctx.listener.get()); });
}

int run_fiber_multi(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) { return run_multi<P>(ctx); });
}

}  // namespace cb
