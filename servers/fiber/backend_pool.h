// backend_pool.h: the backend connections of one fiber scheduler (fiber:hub,
// each scheduler of fiber:multi): at most its share of --backend-conns,
// opened on first need. A request's fiber borrows one for all its calls;
// when every connection is lent the fiber parks in a FIFO (eventlet's pool
// with a green semaphore) and the time it waited is counted. The calls
// themselves run on a fiber::Socket, so they read as blocking code and park
// the fiber on the hub. Single-threaded: no locks.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/counters.h"
#include "fiber/scheduler.h"
#include "fiber/socket.h"

namespace cb::fiber {

class BackendPool {
 public:
  BackendPool(Scheduler& sched, std::string host, uint16_t port, int max_conns, CounterBlock& c)
      : sched_(&sched), host_(std::move(host)), port_(port), max_(max_conns), counters_(&c) {}
  BackendPool(const BackendPool&) = delete;
  BackendPool& operator=(const BackendPool&) = delete;

  // Runs f(Socket&) on a borrowed connection; f returns whether it is still
  // good. False if none could be had (connect failed, or stopping).
  template <class F>
  bool with_connection(F&& f) {
    std::unique_ptr<Socket> conn = borrow();
    if (!conn) return false;
    bool ok = f(*conn);
    give_back(std::move(conn), ok);
    return ok;
  }

 private:
  std::unique_ptr<Socket> borrow();
  std::unique_ptr<Socket> open();
  void give_back(std::unique_ptr<Socket> conn, bool healthy);

  Scheduler* sched_;
  std::string host_;
  uint16_t port_;
  int max_;
  CounterBlock* counters_;
  std::vector<std::unique_ptr<Socket>> idle_;
  int open_ = 0;  // idle + lent
  std::deque<Fiber*> waiting_;
};

}  // namespace cb::fiber
