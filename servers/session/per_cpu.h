// per_cpu.h: running one worker per server CPU (reactor:multi, fiber:multi):
// each on its own thread, pinned to its CPU, with its own SO_REUSEPORT
// listener, and none serving before all are set up.
#pragma once

#include <functional>
#include <latch>
#include <utility>

#include "session/context.h"

namespace cb {

// No worker serves before every worker is set up (poller, timers, listener
// registered), so a client that got an answer knows the server holds all its
// descriptors. Each worker holds an Arrival; one whose set-up throws still
// gives up its place, so the others are not left waiting.
class SetUpArrival {
 public:
  explicit SetUpArrival(std::latch* all_set_up) : latch_(all_set_up) {}
  SetUpArrival(const SetUpArrival&) = delete;
  SetUpArrival& operator=(const SetUpArrival&) = delete;
  ~SetUpArrival() {
    if (latch_ != nullptr) latch_->count_down();
  }
  // Set up: wait for the others (once; nothing to wait for without a latch).
  void wait_for_all() {
    if (latch_ != nullptr) std::exchange(latch_, nullptr)->arrive_and_wait();
  }

 private:
  std::latch* latch_;
};

// What one worker runs: set up on `listen_fd`, call arrival.wait_for_all(),
// serve until stop, return an exit code.
using PerCpuWorker = std::function<int(int index, int listen_fd, SetUpArrival& arrival)>;

// Runs config.per_cpu_workers() workers, worker i pinned to CPU i of the
// allowed set. Worker 0 serves the listener main opened (with SO_REUSEPORT
// the kernel hashes connections to it too, so it must not go unserved); the
// others get listeners of their own. A worker that throws brings the others
// down. Returns 0 if every worker returned 0.
int run_per_cpu(ServerContext& ctx, const PerCpuWorker& worker);

}  // namespace cb
