// offload_pool.h: helper threads for the blocking work an event loop must not
// do (Flash's AMPED helpers, libuv's threadpool, eventlet's tpool): reading a
// file whose pages are not in the page cache.
//
// A loop submits an OffloadJob to the shared OffloadPool (a bounded FIFO,
// any number of producers and helpers); a helper runs it and hands it back
// to the loop's own OffloadCompletions: an intrusive list plus an eventfd
// that the loop watches, so completions arrive as one more readable fd.
// Every submitted job comes back exactly once: done, or cancelled when the
// pool shuts down before a helper took it. Jobs are owned by the submitter
// (embedded in its connection or on its fiber's stack): no allocation per job.
//
// The file step itself (file_step below): on the loop, a residency probe
// (preadv2 RWF_NOWAIT) that serves cached files without leaving the loop;
// else a job that reads the body (small files) or faults in the pages
// sendfile will send (large ones), so the send does not block on disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/counters.h"
#include "common/fd.h"

namespace cb {

class OffloadCompletions;

struct OffloadJob {
  // The work, run on a helper thread (default: load_file below).
  void (*work)(OffloadJob& job) = nullptr;
  // What to load: the file, its size, and whether to read it whole into
  // `body` (else fault its pages into the page cache).
  int fd = -1;
  uint64_t size = 0;
  bool read_body = false;
  // Results, written by the helper before it hands the job back.
  std::string body;
  bool ok = false;
  bool cancelled = false;
  // Where the job goes back to, and for the submitter's own use.
  OffloadCompletions* completions = nullptr;
  void* owner = nullptr;
  OffloadJob* next = nullptr;  // link of whichever queue holds the job
};

// Reads job.fd as the job asks: the whole body, or every page of the file
// (posix_fadvise WILLNEED, then reads into a scratch buffer).
void load_file(OffloadJob& job);

// The completions of one loop: helpers push, the loop drains when its
// eventfd is readable.
class OffloadCompletions {
 public:
  OffloadCompletions();  // throws SysError (eventfd)
  OffloadCompletions(const OffloadCompletions&) = delete;
  OffloadCompletions& operator=(const OffloadCompletions&) = delete;

  int fd() const { return event_.get(); }
  void push(OffloadJob* job);
  // Calls f(OffloadJob*) for every job handed back so far, in order. The
  // eventfd is reset first, so a job pushed meanwhile makes it readable again.
  template <class F>
  void drain(F&& f) {
    clear_event();
    OffloadJob* job = take_all();
    while (job != nullptr) {
      OffloadJob* next = job->next;
      job->next = nullptr;
      f(job);
      job = next;
    }
  }
  // Removes `job` if it is waiting here (its owner is going away): true if
  // it was (the helper is done with it).
  bool forget(OffloadJob* job);

 private:
  void clear_event();
  OffloadJob* take_all();

  Fd event_;
  std::mutex mutex_;
  OffloadJob* head_ = nullptr;
  OffloadJob* tail_ = nullptr;
};

class OffloadPool {
 public:
  // `helpers` threads; at most `capacity` jobs queued (not yet taken).
  OffloadPool(int helpers, std::size_t capacity);  // throws SysError
  ~OffloadPool() { shutdown(); }
  OffloadPool(const OffloadPool&) = delete;
  OffloadPool& operator=(const OffloadPool&) = delete;

  // False if the queue is full or the pool is shutting down: the caller
  // does the work itself.
  bool submit(OffloadJob* job);
  // Takes `job` back if no helper has taken it yet (true); it is then not
  // handed back. False: it is running or done, and will be (was) handed back.
  bool cancel(OffloadJob* job);
  // Stops taking jobs, hands queued ones back cancelled, waits for the ones
  // running, joins the helpers. Idempotent.
  void shutdown();

  int helpers() const { return static_cast<int>(threads_.size()); }

 private:
  void helper_main();

  std::mutex mutex_;
  std::condition_variable work_;
  OffloadJob* head_ = nullptr;
  OffloadJob* tail_ = nullptr;
  std::size_t queued_ = 0;
  std::size_t capacity_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// --- the file step, on the loop ---

// Reads the body of a small file on the loop only if every page is cached
// (preadv2 RWF_NOWAIT); for a large one probes its first pages. True: the
// file is resident (for small ones `body` holds it, sized exactly).
bool read_if_resident(int fd, uint64_t size, bool read_body, std::string* body);

// Helpers for a server: --workers if given, else 4 per server CPU (a helper
// blocked on the disk still leaves others to run); the queue bound keeps a
// flood of cold requests from growing memory without limit.
inline constexpr std::size_t kOffloadQueueJobs = 4096;

}  // namespace cb
