// offload.cpp: see offload.h.
#include "fiber/offload.h"

#include <cerrno>
#include <thread>

#include "common/status.h"

namespace cb::fiber {

FileOffload::FileOffload(Scheduler& sched, OffloadPool& pool, CounterBlock& c)
    : sched_(&sched), pool_(&pool), counters_(&c) {
  sched.watch(completions_.fd(), wait_);
  if (!sched.spawn([this] { drain_loop(); })) throw SysError("mmap(fiber stack)", errno);
}

bool FileOffload::start(const FileWait& w, FiberJob& job, FileRead* done) {
  job.owner = sched_->running();
  job.completions = &completions_;
  return start_file_step(w, job, *pool_, &scratch_, done, *counters_);
}

bool FileOffload::wait_for(FiberJob& job) {
  while (!job.back) {
    if (sched_->park() != Wake::kStopping) continue;
    // Stopping: the job lives on this fiber's stack. Take it back from the
    // queue, or from the completions, or wait out the helper reading it (one
    // read: short); the drain fiber has stopped.
    while (!job.back && !pool_->cancel(&job) && !completions_.forget(&job)) {
      std::this_thread::yield();
    }
    return false;
  }
  return true;
}

void FileOffload::drain_loop() {
  // Edge-triggered: drain() resets the eventfd before taking the list, so a
  // job pushed after that raises a new edge, seen at the next wait.
  while (sched_->wait_fd(wait_, event::kReadable) != Wake::kStopping) {
    completions_.drain([this](OffloadJob* job) {
      auto* fj = static_cast<FiberJob*>(job);
      fj->back = true;
      sched_->wake(static_cast<Fiber*>(fj->owner));
    });
  }
}

}  // namespace cb::fiber
