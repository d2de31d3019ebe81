// offload.h: cold file reads for the fibers of one scheduler (fiber:offload,
// eventlet's tpool): a connection's fiber hands the read to the helper
// threads (session/offload_pool.h) and parks; a drain fiber waits on the
// scheduler's completion eventfd (watched by the hub like any socket) and
// wakes each fiber whose job came back. Cached files never leave the fiber
// (session/file_step.h). Single-threaded like the scheduler: no locks here.
#pragma once

#include <string>

#include "common/counters.h"
#include "fiber/scheduler.h"
#include "session/file_step.h"
#include "session/offload_pool.h"

namespace cb::fiber {

class FileOffload {
 public:
  // Registers the completion eventfd with the hub and spawns the drain
  // fiber; throws SysError if either fails.
  FileOffload(Scheduler& sched, OffloadPool& pool, CounterBlock& c);
  FileOffload(const FileOffload&) = delete;
  FileOffload& operator=(const FileOffload&) = delete;

  // run_session's Files: calls finish(FileRead) once the bytes are there,
  // parking the calling fiber while a helper reads. False when the
  // scheduler stops first (finish is not called; the session ends).
  template <class Finish>
  bool load(const FileWait& w, Finish&& finish) {
    FiberJob job;
    FileRead done;
    if (start(w, job, &done)) {
      finish(done);
      return true;
    }
    if (!wait_for(job)) return false;
    finish(job_result(job));
    return true;
  }

 private:
  struct FiberJob : OffloadJob {
    bool back = false;  // set by the drain fiber
  };
  bool start(const FileWait& w, FiberJob& job, FileRead* done);
  // Parks until the job is back; false if stopping (the job is then either
  // taken back from the pool or waited out, so the stack may go).
  bool wait_for(FiberJob& job);
  void drain_loop();

  Scheduler* sched_;
  OffloadPool* pool_;
  CounterBlock* counters_;
  OffloadCompletions completions_;
  FdWait wait_;
  std::string scratch_;  // resident bodies, consumed by finish at once
};

}  // namespace cb::fiber
