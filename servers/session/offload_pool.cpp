// offload_pool.cpp: the helper threads, the per-loop completion queue and the
// file step's two halves (the loop's residency probe, the helper's load).
// See offload_pool.h.
#include "session/offload_pool.h"

#include "common/io.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <vector>

#include "common/status.h"

namespace cb {
namespace {

// A large file is probed by its first 64 KiB: enough to see a cold file
// (its first pages go first and come back first), one cheap read.
constexpr std::size_t kProbeBytes = 64 * 1024;
// Helpers fault a large file in by reading it through a 256 KiB buffer per
// helper thread: large reads, little memory.
constexpr std::size_t kPrefaultChunkBytes = 256 * 1024;

// Faults every page of the file into the page cache; false on a read error
// or a short file.
bool prefault(int fd, uint64_t size) {
  // Advice only: the reads below do the work if it is ignored.
  (void)::posix_fadvise(fd, 0, static_cast<off_t>(size), POSIX_FADV_WILLNEED);
  thread_local std::vector<char> chunk(kPrefaultChunkBytes);
  for (uint64_t off = 0; off < size;) {
    std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(chunk.size(), size - off));
    ssize_t n = ::pread(fd, chunk.data(), want, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace

void load_file(OffloadJob& job) {
  if (!job.read_body) {
    job.ok = prefault(job.fd, job.size);
    return;
  }
  job.body.resize(static_cast<std::size_t>(job.size));
  job.ok = io::pread_exact(job.fd, job.body.data(), job.body.size());
}

bool read_if_resident(int fd, uint64_t size, bool read_body, std::string* body) {
  std::size_t want = read_body ? static_cast<std::size_t>(size)
                               : static_cast<std::size_t>(std::min<uint64_t>(size, kProbeBytes));
  body->resize(want);
  if (want == 0) return true;
  iovec iov{body->data(), want};
  // RWF_NOWAIT: EAGAIN (or a short read) when a page would have to come
  // from the disk. EOPNOTSUPP (a filesystem without it) counts as cold:
  // offloading is correct there, only slower.
  ssize_t n = ::preadv2(fd, &iov, 1, 0, RWF_NOWAIT);
  return n >= 0 && static_cast<std::size_t>(n) == want;
}

OffloadCompletions::OffloadCompletions() : event_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!event_) throw SysError("eventfd", errno);
}

void OffloadCompletions::push(OffloadJob* job) {
  job->next = nullptr;
  {
    std::lock_guard lock(mutex_);
    (tail_ != nullptr ? tail_->next : head_) = job;
    tail_ = job;
  }
  uint64_t one = 1;
  // Cannot fail short of a counter overflow (2^64 - 1 wakeups unread): the
  // job is queued regardless and the next push or drain picks it up.
  ssize_t n = ::write(event_.get(), &one, sizeof one);
  (void)n;
}

void OffloadCompletions::clear_event() {
  uint64_t count = 0;
  ssize_t n = ::read(event_.get(), &count, sizeof count);
  (void)n;  // EAGAIN: nothing was signalled; the list is taken regardless
}

OffloadJob* OffloadCompletions::take_all() {
  std::lock_guard lock(mutex_);
  OffloadJob* all = head_;
  head_ = tail_ = nullptr;
  return all;
}

bool OffloadCompletions::forget(OffloadJob* job) {
  std::lock_guard lock(mutex_);
  OffloadJob* prev = nullptr;
  for (OffloadJob* j = head_; j != nullptr; prev = j, j = j->next) {
    if (j != job) continue;
    (prev != nullptr ? prev->next : head_) = j->next;
    if (tail_ == j) tail_ = prev;
    j->next = nullptr;
    return true;
  }
  return false;
}

OffloadPool::OffloadPool(int helpers, std::size_t capacity) : capacity_(capacity) {
  threads_.reserve(static_cast<std::size_t>(std::max(1, helpers)));
  try {
    for (int i = 0; i < std::max(1, helpers); ++i) threads_.emplace_back([this] { helper_main(); });
  } catch (const std::system_error& e) {
    shutdown();
    throw SysError("pthread_create(offload helper)", e.code().value());
  }
}

bool OffloadPool::submit(OffloadJob* job) {
  {
    std::lock_guard lock(mutex_);
    // A refused job is not touched: it may still sit in a completion list.
    if (stopping_ || queued_ >= capacity_) return false;
    job->next = nullptr;
    job->cancelled = false;
    (tail_ != nullptr ? tail_->next : head_) = job;
    tail_ = job;
    ++queued_;
  }
  work_.notify_one();
  return true;
}

bool OffloadPool::cancel(OffloadJob* job) {
  std::lock_guard lock(mutex_);
  OffloadJob* prev = nullptr;
  for (OffloadJob* j = head_; j != nullptr; prev = j, j = j->next) {
    if (j != job) continue;
    (prev != nullptr ? prev->next : head_) = j->next;
    if (tail_ == j) tail_ = prev;
    j->next = nullptr;
    --queued_;
    return true;
  }
  return false;
}

void OffloadPool::shutdown() {
  OffloadJob* left = nullptr;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    left = head_;
    head_ = tail_ = nullptr;
    queued_ = 0;
  }
  work_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  // Jobs no helper took go back cancelled: each exactly once.
  while (left != nullptr) {
    OffloadJob* next = left->next;
    left->cancelled = true;
    left->ok = false;
    left->completions->push(left);
    left = next;
  }
}

void OffloadPool::helper_main() {
  for (;;) {
    OffloadJob* job = nullptr;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [this] { return stopping_ || head_ != nullptr; });
      if (head_ == nullptr) return;  // stopping, nothing left to take
      job = head_;
      head_ = job->next;
      if (head_ == nullptr) tail_ = nullptr;
      --queued_;
    }
    job->next = nullptr;
    (job->work != nullptr ? job->work : &load_file)(*job);
    job->completions->push(job);
  }
}

}  // namespace cb
