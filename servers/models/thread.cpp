// thread.cpp: thread:per-conn, a detached thread per accepted connection.
// Stacks are small (--stack-size, default 64 KiB, lazily committed by the
// kernel) so 10,000 connections fit in memory. On stop every connection is
// shut down, which ends each thread's blocking read, and the model waits
// until the last thread has left. An /app request's backend calls block the
// connection's thread on a connection borrowed from one process-wide pool.
#include <pthread.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <memory>

#include "common/status.h"
#include "session/context.h"
#include "session/accept_loop.h"
#include "session/backend_pool.h"
#include "session/connection_set.h"
#include "session/session.h"

namespace cb {
namespace {

// Each thread reads into a buffer on its own stack; 8 KiB leaves most of a
// 64 KiB stack for the protocol and libc.
constexpr std::size_t kScratchBytes = 8 * 1024;
// How long shutdown waits for connection threads to notice and leave.
constexpr std::chrono::seconds kDrainLimit{10};

template <class P>
struct ThreadJob {
  ServerContext* ctx;
  ConnectionSet* connections;
  BlockingBackendPool* backend;  // nullptr without --backend
  Fd conn;
};

template <class P>
void* serve_thread(void* arg) {
  std::unique_ptr<ThreadJob<P>> job(static_cast<ThreadJob<P>*>(arg));
  ServerContext& ctx = *job->ctx;
  {
    std::array<char, kScratchBytes> scratch;
    P protocol = make_protocol<P>(ctx);
    SocketStream stream(job->conn.get());
    run_session(stream, protocol, scratch, ctx.stats(), job->backend);
  }
  // Counted before leaving the set: shutdown waits for the set to empty and
  // then reports the totals, which must include this connection.
  bump(ctx.stats().connections_closed);
  int fd = job->conn.get();
  job->connections->remove(fd);
  job->conn.reset();
  return nullptr;
}

class ThreadAttr {
 public:
  explicit ThreadAttr(std::size_t stack_bytes) {
    ::pthread_attr_init(&attr_);
    ::pthread_attr_setdetachstate(&attr_, PTHREAD_CREATE_DETACHED);
    int err = ::pthread_attr_setstacksize(&attr_, stack_bytes);
    if (err != 0) throw SysError("pthread_attr_setstacksize", err);
  }
  ~ThreadAttr() { ::pthread_attr_destroy(&attr_); }
  ThreadAttr(const ThreadAttr&) = delete;
  ThreadAttr& operator=(const ThreadAttr&) = delete;
  const pthread_attr_t* get() const { return &attr_; }

 private:
  pthread_attr_t attr_;
};

template <class P>
int run_per_conn(ServerContext& ctx) {
  ThreadAttr attr(ctx.config.stack_bytes());
  ConnectionSet connections;
  std::unique_ptr<BlockingBackendPool> backend = make_backend_pool(ctx.config, ctx.stats());
  run_accept_loop(ctx, ctx.listener.get(), {}, [&](Fd conn) {
    int fd = conn.get();
    connections.add(fd);
    auto* job = new ThreadJob<P>{&ctx, &connections, backend.get(), std::move(conn)};
    pthread_t tid;
    int err = ::pthread_create(&tid, attr.get(), serve_thread<P>, job);
    if (err != 0) {
      connections.remove(fd);
      delete job;  // closes the connection
      bump(ctx.stats().errors_spawn);
      bump(ctx.stats().connections_closed);
      return;
    }
    bump(ctx.stats().workers);
  });
  connections.shutdown_all();
  return connections.wait_empty(kDrainLimit) ? 0 : 1;
}

}  // namespace

int run_thread_per_conn(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) { return run_per_conn<P>(ctx); });
}

}  // namespace cb
