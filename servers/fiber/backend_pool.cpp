// backend_pool.cpp: see backend_pool.h.
#include "fiber/backend_pool.h"

#include <algorithm>

#include "common/socket.h"
#include "session/backend_pool.h"

namespace cb::fiber {

std::unique_ptr<Socket> BackendPool::borrow() {
  if (idle_.empty() && open_ >= max_) {
    auto start = std::chrono::steady_clock::now();
    while (idle_.empty() && open_ >= max_) {
      waiting_.push_back(sched_->running());
      if (sched_->park() == Wake::kStopping) {
        std::erase(waiting_, sched_->running());
        return nullptr;
      }
    }
    auto waited = std::chrono::steady_clock::now() - start;
    bump(counters_->backend_wait_us,
         static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(waited).count()));
  }
  if (!idle_.empty()) {
    std::unique_ptr<Socket> conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }
  return open();
}

// A blocking connect (on loopback the handshake completes within the call),
// then the socket joins the hub like a client's.
std::unique_ptr<Socket> BackendPool::open() {
  Fd fd = connect_backend(host_, port_, *counters_);
  if (!fd) return nullptr;
  set_nonblocking(fd.get(), true);
  auto conn = std::make_unique<Socket>(std::move(fd), *sched_);
  if (!conn->attach()) {
    bump(counters_->backend_errors_connect);
    return nullptr;
  }
  ++open_;
  return conn;
}

void BackendPool::give_back(std::unique_ptr<Socket> conn, bool healthy) {
  if (healthy) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;  // closed here: a fresh one next time
  }
  if (!waiting_.empty()) {
    Fiber* next = waiting_.front();
    waiting_.pop_front();
    sched_->wake(next);
  }
}

}  // namespace cb::fiber
