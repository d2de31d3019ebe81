// uring.cpp: see uring.h.
#include "event/uring.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/status.h"

namespace cb::event {

UringRing::UringRing(unsigned entries) {
  io_uring_params params{};
  // Multishot receives post many completions per submission: a completion
  // queue 4x the submission queue keeps the kernel from overflowing it.
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  params.cq_entries = 4 * entries;
  int r = io_uring_queue_init_params(entries, &ring_, &params);
  if (r == -EINVAL) {  // a kernel before 6.1: no deferred task work
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = 4 * entries;
    r = io_uring_queue_init_params(entries, &ring_, &params);
  }
  if (r < 0) throw SysError("io_uring_queue_init", -r);
}

UringRing::~UringRing() {
  io_uring_queue_exit(&ring_);
}

io_uring_sqe* UringRing::sqe() {
  io_uring_sqe* e = io_uring_get_sqe(&ring_);
  if (e != nullptr) return e;
  int r = io_uring_submit(&ring_);
  if (r < 0) throw SysError("io_uring_submit", -r);
  e = io_uring_get_sqe(&ring_);
  if (e == nullptr) throw SysError("io_uring_get_sqe", EBUSY);
  return e;
}

io_uring_sqe* UringRing::try_sqe() {
  io_uring_sqe* e = io_uring_get_sqe(&ring_);
  if (e != nullptr) return e;
  if (io_uring_submit(&ring_) < 0) return nullptr;  // EBUSY/EAGAIN: completions to reap first
  return io_uring_get_sqe(&ring_);
}

void UringLoop::wait(std::chrono::nanoseconds max_wait) {
  std::chrono::nanoseconds wait = max_wait;
  if (!timers_.empty()) {
    auto until = std::max<Clock::duration>(timers_.next_deadline() - Clock::now(), {});
    if (wait.count() < 0 || until < wait) wait = until;
  }
  auto ts = to_timespec<__kernel_timespec>(wait.count() < 0 ? std::chrono::nanoseconds{} : wait);
  io_uring_cqe* cqe = nullptr;
  int r = io_uring_submit_and_wait_timeout(ring_.get(), &cqe, 1, wait.count() < 0 ? nullptr : &ts,
                                           nullptr);
  if (r < 0 && r != -ETIME && r != -EINTR) throw SysError("io_uring_submit_and_wait", -r);
  now_ = Clock::now();
}

ProvidedBuffers::ProvidedBuffers(UringRing& ring, uint16_t group, unsigned count, unsigned size)
    : ring_(ring), group_(group), count_(count), size_(size) {
  std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::size_t ring_bytes = (sizeof(io_uring_buf) * count + page - 1) / page * page;
  map_bytes_ = ring_bytes + std::size_t{count} * size;
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw SysError("mmap(provided buffers)", errno);
  }
  bufs_ = static_cast<io_uring_buf_ring*>(map_);
  data_ = static_cast<char*>(map_) + ring_bytes;
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(bufs_);
  reg.ring_entries = count;
  reg.bgid = group;
  int r = io_uring_register_buf_ring(ring_.get(), &reg, 0);
  if (r < 0) {
    ::munmap(map_, map_bytes_);
    map_ = nullptr;
    throw SysError("io_uring_register_buf_ring", -r);
  }
  io_uring_buf_ring_init(bufs_);
  int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; ++i) {
    io_uring_buf_ring_add(bufs_, data_ + std::size_t{i} * size, size, static_cast<uint16_t>(i),
                          mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(bufs_, static_cast<int>(count));
}

ProvidedBuffers::~ProvidedBuffers() {
  if (map_ == nullptr) return;
  (void)io_uring_unregister_buf_ring(ring_.get(), group_);
  ::munmap(map_, map_bytes_);
}

void ProvidedBuffers::give_back(uint16_t bid) {
  io_uring_buf_ring_add(bufs_, data_ + std::size_t{bid} * size_, size_, bid,
                        io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(bufs_, 1);
}

bool uring_supported(std::string* why_not) {
  std::string why;
  try {
    UringRing ring(8);
    io_uring_probe* probe = io_uring_get_probe_ring(ring.get());
    if (probe == nullptr) {
      why = "io_uring_get_probe_ring failed (Linux 5.6+ needed)";
    } else {
      bool ops = io_uring_opcode_supported(probe, IORING_OP_ACCEPT) &&
                 io_uring_opcode_supported(probe, IORING_OP_RECV) &&
                 io_uring_opcode_supported(probe, IORING_OP_SEND) &&
                 io_uring_opcode_supported(probe, IORING_OP_READ) &&
                 io_uring_opcode_supported(probe, IORING_OP_POLL_ADD) &&
                 io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL);
      io_uring_free_probe(probe);
      if (!ops) why = "io_uring lacks accept/recv/send/read/poll/cancel (Linux 5.6+ needed)";
    }
    if (why.empty()) ProvidedBuffers buffers(ring, 0, 2, 64);  // buffer rings: 5.19+
  } catch (const SysError& e) {
    why = e.what();
  }
  if (why_not != nullptr) *why_not = why;
  return why.empty();
}

}  // namespace cb::event
