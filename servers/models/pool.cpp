// pool.cpp: the thread-pool models. Workers default to 4 × server CPUs.
//   pool:conn   an accept thread feeds a bounded queue; a worker takes a
//               connection and serves it to the end (blocking I/O). With more
//               connections than workers, the rest wait: the model's limit.
//   pool:ready  half-sync/half-async: a dispatcher thread waits in epoll
//               (EPOLLONESHOT) and queues connections that are ready; a
//               worker runs one non-blocking step (read, answer, write) and
//               re-arms the connection for its next event.
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
#include "common/socket.h"
#include "event/epoll_poller.h"
#include "event/event_loop.h"
#include "models/model.h"
#include "session/accept_loop.h"
#include "session/connection_set.h"
#include "session/make_protocol.h"
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

int worker_count(const ServerContext& ctx) {
  return ctx.config.workers > 0 ? ctx.config.workers : 4 * ctx.config.server_cpus;
}

// Joins every thread when it goes out of scope (after the queue is closed).
using Workers = std::vector<std::jthread>;

template <class P>
int run_conn(ServerContext& ctx) {
  WorkQueue<Fd> queue(kQueueLimit);
  ConnectionSet connections;
  int result = 0;
  {
    Workers workers;
    for (int i = 0; i < worker_count(ctx); ++i) {
      workers.emplace_back([&] {
        std::vector<char> scratch(kScratchBytes);
        while (std::optional<Fd> conn = queue.pop()) {
          connections.add(conn->get());
          P protocol = make_protocol<P>(ctx);
          SocketStream stream(conn->get());
          run_session(stream, protocol, scratch, ctx.stats());
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

template <class P>
struct ReadyConn {
  event::Handler handler;  // first: the dispatcher queues it on readiness
  NbSession<P> session;
  // Handed between workers through the kernel (EPOLLONESHOT re-arm, then the
  // dispatcher's epoll_wait): the release store before re-arming and the
  // acquire load after taking the connection make that hand-over visible to
  // the memory model (and to TSan) along with the session state.
  std::atomic<Next> waiting_for{Next::kRead};
};

template <class P>
class ReadyPool {
 public:
  explicit ReadyPool(ServerContext& ctx)
      : ctx_(ctx), poller_(event::EpollPoller::Trigger::kOneShot), queue_(kQueueLimit) {}

  int run() {
    {
      Workers workers;
      for (int i = 0; i < worker_count(ctx_); ++i) {
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
  // The dispatcher: accepts, and hands ready connections to the workers.
  void dispatch() {
    std::array<event::Ready, 256> ready;
    event::Handler listener{nullptr}, stop{nullptr};
    poller_.add(ctx_.listener.get(), event::kReadable, &listener);
    poller_.add(stop_fd(), event::kReadable, &stop);
    AcceptGuard guard;
    while (!stop_requested()) {
      int n = poller_.wait(ready, std::chrono::nanoseconds(-1));
      for (int i = 0; i < n; ++i) {
        event::Handler* h = ready[static_cast<std::size_t>(i)].handler;
        if (h == &stop) return;
        if (h == &listener) {
          accept_all(guard);
          poller_.modify(ctx_.listener.get(), event::kReadable, &listener);
        } else {
          queue_.push(h);
        }
      }
    }
  }

  void accept_all(AcceptGuard& guard) {
    for (;;) {
      AcceptResult a = guard.accept(ctx_.listener.get(), /*nonblocking=*/true);
      if (a.status == AcceptStatus::kRefusedNoFds) bump(ctx_.stats().errors_no_fds);
      if (a.status == AcceptStatus::kError) bump(ctx_.stats().errors_accept);
      if (a.status != AcceptStatus::kAccepted) return;
      bump(ctx_.stats().connections_accepted);
      int fd = a.fd.get();
      auto* conn = new ReadyConn<P>{{nullptr}, NbSession<P>(std::move(a.fd), make_protocol<P>(ctx_))};
      {
        std::lock_guard lock(live_mutex_);
        live_.insert(conn);
      }
      poller_.add(fd, event::kReadable, &conn->handler);
    }
  }

  // A worker: one step per ready connection, then re-arm or close.
  void work() {
    std::vector<char> scratch(kScratchBytes);
    while (std::optional<event::Handler*> h = queue_.pop()) {
      auto* conn = reinterpret_cast<ReadyConn<P>*>(*h);
      CounterBlock& c = ctx_.stats();
      Next next = conn->waiting_for.load(std::memory_order_acquire) == Next::kWrite
                      ? conn->session.on_writable(c)
                      : conn->session.on_readable(scratch, c, /*until_eagain=*/false);
      if (next == Next::kClose) {
        close_one(conn);
        continue;
      }
      // Everything the re-arm needs is read first: once the store is made,
      // another worker may own (and free) the connection.
      int fd = conn->session.fd();
      event::Handler* handler = &conn->handler;
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
