// app_step.cpp: see app_step.h and backend_pool.h.
#include "session/app_step.h"

#include <time.h>

#include "common/socket.h"
#include "common/status.h"
#include "session/backend_pool.h"

namespace cb {
namespace {

std::chrono::nanoseconds thread_cpu_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace

void burn_cpu(std::chrono::microseconds us) {
  if (us.count() <= 0) return;
  std::chrono::nanoseconds until = thread_cpu_now() + us;
  // The work itself: a dependent chain the compiler cannot drop, checked
  // against the clock every few microseconds of it.
  volatile uint64_t sink = 0;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  while (thread_cpu_now() < until) {
    for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
  }
  (void)sink;
}

Fd connect_backend(const std::string& host, uint16_t port, CounterBlock& c) {
  try {
    return connect_tcp(host, port);
  } catch (const SysError&) {
    bump(c.backend_errors_connect);
    return Fd();
  }
}

Fd BlockingBackendPool::borrow() {
  std::unique_lock lock(mutex_);
  if (idle_.empty() && open_ >= max_) {
    auto start = std::chrono::steady_clock::now();
    freed_.wait(lock, [&] { return !idle_.empty() || open_ < max_; });
    auto waited = std::chrono::steady_clock::now() - start;
    bump(counters_->backend_wait_us,
         static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(waited).count()));
  }
  if (!idle_.empty()) {
    Fd conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }
  ++open_;  // reserved before connecting, so the limit holds meanwhile
  lock.unlock();
  Fd conn = connect_backend(host_, port_, *counters_);
  if (!conn) give_back(Fd(), false);
  return conn;
}

void BlockingBackendPool::give_back(Fd conn, bool healthy) {
  {
    std::lock_guard lock(mutex_);
    if (healthy) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;  // closed here (conn goes out of scope): a fresh one next time
    }
  }
  freed_.notify_one();
}

}  // namespace cb
