// backend_pool.h: the backend connections of the threaded models (thread,
// pool, prefork workers): at most --backend-conns, opened on first need, a
// request borrowing one for all its calls. When every connection is lent,
// the borrower blocks on a condition variable (a service's DB pool); the
// time it waited is counted (backend_wait_us). A connection that failed a
// call is closed, not lent again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/counters.h"
#include "common/fd.h"
#include "session/context.h"
#include "session/session.h"

namespace cb {

// Opens one blocking backend connection (TCP_NODELAY); invalid Fd on
// failure, counted in backend_errors_connect.
Fd connect_backend(const std::string& host, uint16_t port, CounterBlock& c);

class BlockingBackendPool {
 public:
  BlockingBackendPool(std::string host, uint16_t port, int max_conns, CounterBlock& c)
      : host_(std::move(host)), port_(port), max_(max_conns), counters_(&c) {}

  // Runs f(SocketStream&) on a borrowed connection; f returns whether the
  // connection is still good. False if no connection could be opened.
  template <class F>
  bool with_connection(F&& f) {
    Fd conn = borrow();
    if (!conn) return false;
    SocketStream stream(conn.get());
    bool ok = f(stream);
    give_back(std::move(conn), ok);
    return ok;
  }

 private:
  Fd borrow();
  void give_back(Fd conn, bool healthy);

  std::string host_;
  uint16_t port_;
  int max_;
  CounterBlock* counters_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<Fd> idle_;
  int open_ = 0;  // idle + lent
};

// The pool for a process, or nullptr when it has no backend.
inline std::unique_ptr<BlockingBackendPool> make_backend_pool(const ServerConfig& config,
                                                              CounterBlock& c, int share = 1) {
  if (!config.has_backend()) return nullptr;
  return std::make_unique<BlockingBackendPool>(config.backend_host, config.backend_port,
                                               config.backend_conns_per(share), c);
}

}  // namespace cb
