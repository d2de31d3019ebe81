// pool.cpp: the thread-pool models. Workers default to 4 × server CPUs.
//   pool:conn   an accept thread feeds a bounded queue; a worker takes a
//               connection and serves it to the end (blocking I/O). With more
//               connections than workers, the rest wait: the model's limit.
//   pool:ready  half-sync/half-async: a dispatcher thread waits in epoll
//               (EPOLLONESHOT) and queues connections that are ready; a
//               worker runs one non-blocking step (read, answer, write) and
//               re-arms the connection for its next event. The request-head
//               timeout: a worker publishes the head's deadline with the
//               connection; the dispatcher sweeps the waiting connections
//               and wakes an expired one with shutdown(SHUT_RD), whose
//               worker then answers the 408 (NbSession::on_readable).
// An /app request's backend calls block the worker (on a connection borrowed
// from one process-wide pool): W workers waiting D each serve at most W/D.
#include <algorithm>
#include <atomic>
#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/shutdown.h"
#include "event/epoll_poller.h"
#include "event/event_loop.h"
#include "session/context.h"
#include "session/accept_loop.h"
#include "session/acceptor.h"
#include "session/backend_pool.h"
#include "session/connection_set.h"
#include "session/nb_session.h"
#include "session/session.h"

namespace cb {
namespace {

constexpr std::size_t kScratchBytes = 16 * 1024;
// pool:conn queue bound: when every worker is busy and this many wait, the
// accept thread blocks and further clients wait in the kernel backlog.
constexpr std::size_t kQueueLimit = 4096;
constexpr std::chrono::seconds kDrainLimit{10};

// A closable multi-producer multi-consumer queue.
template <class T>
class WorkQueue {
 public:
  explicit WorkQueue(std::size_t limit) : limit_(limit) {}

  // False when the queue was closed.
  bool push(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < limit_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  // Empty optional once the queue is closed and drained.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    items_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> items_;
  std::size_t limit_;
  bool closed_ = false;
};

// Joins every thread when it goes out of scope (after the queue is closed).
using Workers = std::vector<std::jthread>;

template <class P>
int run_conn(ServerContext& ctx) {
  WorkQueue<Fd> queue(kQueueLimit);
  ConnectionSet connections;
  std::unique_ptr<BlockingBackendPool> backend = make_backend_pool(ctx.config, ctx.stats());
  int result = 0;
  {
    Workers workers;
    for (int i = 0; i < ctx.config.pool_workers(); ++i) {
      workers.emplace_back([&] {
        std::vector<char> scratch(kScratchBytes);
        while (std::optional<Fd> conn = queue.pop()) {
          connections.add(conn->get());
          P protocol = make_protocol<P>(ctx);
          SocketStream stream(conn->get());
          run_session(stream, protocol, scratch, ctx.stats(), backend.get());
          bump(ctx.stats().connections_closed);  // before shutdown can see the set empty
          connections.remove(conn->get());
        }
      });
      bump(ctx.stats().workers);
    }
    run_accept_loop(ctx, ctx.listener.get(), {}, [&](Fd conn) {
      if (!queue.push(std::move(conn))) bump(ctx.stats().connections_closed);
    });
    queue.close();
    connections.shutdown_all();
    if (!connections.wait_empty(kDrainLimit)) result = 1;
  }
  return result;
}

// ---- pool:ready --------------------------------------------------------

// The dispatcher queues its Handler on readiness; a worker casts back.
template <class P>
struct ReadyConn : event::Handler {
  ReadyConn(NbSession<P> s) : session(std::move(s)) {}
  NbSession<P> session;
  // Handed between workers through the kernel (EPOLLONESHOT re-arm, then the
  // dispatcher's epoll_wait): the release store before re-arming and the
  // acquire load after taking the connection make that hand-over visible to
  // the memory model (and to TSan) along with the session state.
  std::atomic<Next> waiting_for{Next::kRead};
  // The unfinished request head's deadline (steady clock, ns; 0 = none),
  // written by the worker before it re-arms, read by the dispatcher's sweep.
  std::atomic<int64_t> head_due_ns{0};
  std::atomic<bool> poked{false};  // the sweep already woke it
};

template <class P>
class ReadyPool {
 public:
  explicit ReadyPool(ServerContext& ctx)
      : ctx_(ctx),
        poller_(event::EpollPoller::Trigger::kOneShot),
        queue_(kQueueLimit),
        backend_(make_backend_pool(ctx.config, ctx.stats())) {}

  int run() {
    {
      Workers workers;
      for (int i = 0; i < ctx_.config.pool_workers(); ++i) {
        workers.emplace_back([this] { work(); });
        bump(ctx_.stats().workers);
      }
      dispatch();
      queue_.close();
    }  // workers joined: nothing else touches the connections now
    close_all();
    return 0;
  }

 private:
  // The dispatcher: accepts by the shared rule, and hands ready connections
  // to the workers. Every fd is one-shot: the listener is re-armed after a
  // batch, or only once a rest after a refusal has passed.
  void dispatch() {
    std::array<event::Ready, 256> ready;
    event::Handler listener{nullptr}, stop{nullptr};
    Acceptor acceptor(ctx_.listener.get(), ctx_.stats());
    poller_.add(acceptor.fd(), event::kReadable, &listener);
    poller_.add(stop_fd(), event::kReadable, &stop);
    bool resting = false;
    event::Clock::time_point rest_until{};
    event::Clock::time_point next_sweep = event::Clock::now() + sweep_every();
    while (!stop_requested()) {
      std::chrono::nanoseconds wait{-1};
      if (resting) wait = std::max(rest_until - event::Clock::now(), event::Clock::duration{});
      if (sweeping()) {
        auto to_sweep = std::max(next_sweep - event::Clock::now(), event::Clock::duration{});
        if (wait.count() < 0 || to_sweep < wait) wait = to_sweep;
      }
      int n = poller_.wait(ready, wait);
      if (sweeping() && event::Clock::now() >= next_sweep) {
        sweep_heads();
        next_sweep = event::Clock::now() + sweep_every();
      }
      if (resting && event::Clock::now() >= rest_until) {
        resting = false;
        poller_.modify(acceptor.fd(), event::kReadable, &listener);
      }
      for (int i = 0; i < n; ++i) {
        event::Handler* h = ready[static_cast<std::size_t>(i)].handler;
        if (h == &stop) return;
        if (h != &listener) {
          queue_.push(h);
        } else if (accept_some(acceptor) == AcceptNext::kRest) {
          resting = true;
          rest_until = event::Clock::now() + Acceptor::kRest;
        } else {
          poller_.modify(acceptor.fd(), event::kReadable, &listener);
        }
      }
    }
  }

  AcceptNext accept_some(Acceptor& acceptor) {
    return acceptor.accept_batch([this](Fd fd) {
      int raw = fd.get();
      auto* conn = new ReadyConn<P>(NbSession<P>(std::move(fd), make_protocol<P>(ctx_)));
      {
        std::lock_guard lock(live_mutex_);
        live_.insert(conn);
      }
      poller_.add(raw, event::kReadable, conn);
    });
  }

  // The head timeout's sweep: how often (a quarter of the timeout, 10 ms to
  // 1 s), and the sweep itself. A connection whose head ran out is woken
  // with shutdown(SHUT_RD), which makes it readable; its worker sees the
  // deadline passed and answers 408. Under live_mutex_ a listed
  // connection's fd is still open (close_one unlists before closing), so
  // the fd cannot belong to someone else.
  bool sweeping() const { return ctx_.config.header_timeout.count() > 0; }
  std::chrono::milliseconds sweep_every() const {
    return std::clamp(ctx_.config.header_timeout / 4, std::chrono::milliseconds(10),
                      std::chrono::milliseconds(1000));
  }
  void sweep_heads() {
    int64_t now = event::Clock::now().time_since_epoch().count();
    std::lock_guard lock(live_mutex_);
    for (ReadyConn<P>* conn : live_) {
      int64_t due = conn->head_due_ns.load(std::memory_order_relaxed);
      if (due == 0 || due > now || conn->poked.exchange(true, std::memory_order_relaxed)) continue;
      ::shutdown(conn->session.fd(), SHUT_RD);
    }
  }

  // A worker: one step per ready connection, then re-arm or close.
  void work() {
    std::vector<char> scratch(kScratchBytes);
    BlockingAppRunner<BlockingBackendPool> runner(backend_.get(), ctx_.stats());
    while (std::optional<event::Handler*> h = queue_.pop()) {
      auto* conn = event::owner_of<ReadyConn<P>>(*h);
      CounterBlock& c = ctx_.stats();
      Next next = conn->waiting_for.load(std::memory_order_acquire) == Next::kWrite
                      ? conn->session.on_writable(c, runner)
                      : conn->session.on_readable(scratch, c, /*until_eagain=*/false, runner);
      if (next == Next::kClose) {
        close_one(conn);
        continue;
      }
      // Everything the re-arm needs is read first: once the store is made,
      // another worker may own (and free) the connection.
      int fd = conn->session.fd();
      event::Handler* handler = conn;
      conn->head_due_ns.store(
          conn->session.head_running() ? conn->session.head_due().time_since_epoch().count() : 0,
          std::memory_order_relaxed);
      conn->waiting_for.store(next, std::memory_order_release);
      poller_.modify(fd, next == Next::kWrite ? event::kWritable : event::kReadable, handler);
    }
  }

  void close_one(ReadyConn<P>* conn) {
    {
      std::lock_guard lock(live_mutex_);
      live_.erase(conn);
    }
    delete conn;  // closing the fd also removes it from epoll
    bump(ctx_.stats().connections_closed);
  }

  // After the workers have joined: nothing else touches the connections.
  void close_all() {
    std::lock_guard lock(live_mutex_);
    for (ReadyConn<P>* conn : live_) {
      delete conn;
      bump(ctx_.stats().connections_closed);
    }
    live_.clear();
  }

  ServerContext& ctx_;
  event::EpollPoller poller_;
  WorkQueue<event::Handler*> queue_;
  std::unique_ptr<BlockingBackendPool> backend_;  // nullptr without --backend
  std::mutex live_mutex_;
  std::unordered_set<ReadyConn<P>*> live_;
};

template <class P>
int run_ready(ServerContext& ctx) {
  ReadyPool<P> pool(ctx);
  return pool.run();
}

}  // namespace

int run_pool_conn(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) { return run_conn<P>(ctx); });
}

int run_pool_ready(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) { return run_ready<P>(ctx); });
}

}  // namespace cb
