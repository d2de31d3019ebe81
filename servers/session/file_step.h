// file_step.h: the work of a file GET that the protocol parked
// (HttpProtocol::set_offload_files, the offloading models only), written
// once: what differs between models is how they wait for the helper.
//   - on the loop: read_if_resident (preadv2 RWF_NOWAIT). A cached file is
//     served there and then, so with a warm page cache the offloading model
//     does exactly the work of its plain sibling (AMPED = SPED when cached);
//   - else an OffloadJob for the pool (offload_pool.h); the reactor unwatches
//     the connection until the job comes back through its eventfd
//     (NbSession::resume_file), a fiber parks on it (fiber/offload.h);
//   - the pool's queue full: read here, blocking, and counted.
#pragma once

#include <concepts>
#include <string>

#include "common/counters.h"
#include "protocol/http.h"
#include "protocol/out_queue.h"
#include "session/offload_pool.h"

namespace cb {

using FileWait = proto::HttpProtocol::FileWait;
using FileRead = proto::HttpProtocol::FileRead;

// Whether protocol P can park a file request (HTTP can, echo cannot).
template <class P>
concept HasFileStep = requires(P& p, proto::OutQueue& out) {
  { p.file_waiting() } -> std::same_as<bool>;
  p.finish_file(FileRead{}, out);
};

// Reads what the request needs on the calling thread, blocking; the result
// views *buf. The fallback when no helper can take the job.
inline FileRead read_file_here(const FileWait& w, std::string* buf) {
  OffloadJob job;
  job.fd = w.fd;
  job.size = w.size;
  job.read_body = w.inline_body;
  job.body.swap(*buf);  // reuse the caller's storage
  load_file(job);
  buf->swap(job.body);
  return {w.inline_body ? std::string_view(*buf) : std::string_view(), job.ok};
}

// The loop's half: a resident file is read into *scratch and true is
// returned with *done set; else `job` is filled and handed to the pool
// (false), or, with the queue full, read here (true, counted).
// The residency probe alone, for every offloading model: true (counted)
// with *done set, the body viewing *scratch, when the file is cached.
inline bool serve_if_resident(const FileWait& w, std::string* scratch, FileRead* done,
                              CounterBlock& c) {
  if (!read_if_resident(w.fd, w.size, w.inline_body, scratch)) return false;
  bump(c.offload_resident_hits);
  *done = {w.inline_body ? std::string_view(*scratch) : std::string_view(), true};
  return true;
}

inline bool start_file_step(const FileWait& w, OffloadJob& job, OffloadPool& pool,
                            std::string* scratch, FileRead* done, CounterBlock& c) {
  if (serve_if_resident(w, scratch, done, c)) return true;
  job.fd = w.fd;
  job.size = w.size;
  job.read_body = w.inline_body;
  job.ok = false;
  if (pool.submit(&job)) {
    bump(c.offload_jobs);
    return false;
  }
  bump(c.offload_queue_full);
  *done = read_file_here(w, scratch);
  return true;
}

// What a finished job says, for finish_file; the job's body stays valid
// until release_job_body().
inline FileRead job_result(const OffloadJob& job) {
  return {job.read_body ? std::string_view(job.body) : std::string_view(),
          job.ok && !job.cancelled};
}

// An idle connection owns no heap memory: the body goes once it is sent.
inline void release_job_body(OffloadJob& job) { std::string().swap(job.body); }

}  // namespace cb
