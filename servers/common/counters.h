// counters.h: the server's counters, in one block of shared memory.
//
// The block is mapped MAP_SHARED before any fork, so process-per-connection
// children add to the same counters as threads do. When the server is started
// with --stats-file PATH the block is backed by that file, and the harness (or
// `bench_server --print-stats PATH`) reads it live with no signal, socket or
// cooperation from the server: the layout below is the whole protocol
// (kCounterMagic + kCounterVersion guard it). Increments are relaxed atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace cb {

inline constexpr uint64_t kCounterMagic = 0x31544e43'48434e42;  // "BNCHCNT1"
// 2: the /app and backend counters; 3: the file offload counters; 4: the
// io_uring file read counters (reactor:uring); 5: http_3xx (directory
// redirects) and errors_head_timeout.
inline constexpr uint32_t kCounterVersion = 5;

// Every field is a count unless its name says otherwise.
#define CB_COUNTER_FIELDS(X)                                                         \
  X(connections_accepted)                                                            \
  X(connections_closed)                                                              \
  X(requests) /* echo: read chunks echoed; http: responses sent */                   \
  X(bytes_in)                                                                        \
  X(bytes_out)                                                                       \
  X(http_2xx)                                                                        \
  X(http_3xx)         /* 301: a directory named without its trailing slash */      \
  X(http_4xx)                                                                        \
  X(http_5xx)                                                                        \
  X(errors_read)      /* read failed with something other than reset */             \
  X(errors_write)     /* write/sendfile failed with something other than reset */   \
  X(errors_reset)     /* ECONNRESET / EPIPE from the peer */                         \
  X(errors_accept)    /* accept failed for a reason other than fd exhaustion */     \
  X(errors_no_fds)    /* connections refused because the fd limit was reached */    \
  X(errors_fd_limit)  /* select: fd >= FD_SETSIZE refused */                        \
  X(errors_idle_timeout)                                                             \
  X(errors_head_timeout) /* request heads not finished within --header-timeout: 408 */ \
  X(errors_spawn)     /* fork / pthread_create failed: connection dropped */        \
  X(children_reaped)                                                                 \
  X(children_user_us) /* CPU of reaped children (wait4 rusage) */                   \
  X(children_sys_us)                                                                 \
  X(children_voluntary_cs)                                                           \
  X(children_involuntary_cs)                                                         \
  X(children_max_rss_kb) /* the largest child's peak RSS */                          \
  X(workers)             /* threads or processes started so far */                  \
  X(app_requests)        /* GET /app requests answered, any status */               \
  X(backend_calls)       /* backend calls answered with the right reply */          \
  X(backend_errors_connect) /* connecting to the backend failed */                  \
  X(backend_errors_io)   /* a call's send or receive failed, or the backend closed */ \
  X(backend_errors_reply) /* a reply that was not the one asked for */               \
  X(backend_unconfigured) /* /app calls asked of a server with no --backend */      \
  X(backend_wait_us)     /* time requests waited for a free backend connection */   \
  X(offload_jobs)        /* file GETs handed off the loop: to helpers, or to io_uring */ \
  X(offload_resident_hits) /* parked file GETs found in the page cache: read on the loop */ \
  X(offload_queue_full)  /* file reads done on the loop: no helper slot or SQE was free */ \
  X(uring_file_reads)    /* reactor:uring: reads of cold files submitted to io_uring */ \
  X(uring_file_reads_orphaned) /* ...of them, still in flight when their connection closed */ \
  X(ready)               /* 1 once the server accepts connections */

struct CounterBlock {
  uint64_t magic;
  uint32_t version;
  int32_t server_pid;
#define CB_DECLARE_FIELD(name) std::atomic<uint64_t> name;
  CB_COUNTER_FIELDS(CB_DECLARE_FIELD)
#undef CB_DECLARE_FIELD
};

static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "counters are shared between processes and must be lock-free");

// Owns the mapping. Created once in main, before any fork or thread.
class Counters {
 public:
  // Anonymous shared memory when path is empty, else a file others can map.
  explicit Counters(const std::string& path = "");
  Counters(const Counters&) = delete;
  Counters& operator=(const Counters&) = delete;
  ~Counters();

  CounterBlock& block() { return *block_; }
  CounterBlock* operator->() { return block_; }

  // JSON object of every field (counts; *_us in microseconds, *_kb in KiB).
  std::string to_json() const;

 private:
  CounterBlock* block_ = nullptr;
  std::string path_;
};

// Adds one to a counter (relaxed: only totals matter, not ordering).
inline void bump(std::atomic<uint64_t>& counter, uint64_t by = 1) {
  counter.fetch_add(by, std::memory_order_relaxed);
}

// Maps an existing --stats-file read-only; throws if it is not a counter block.
class CounterReader {
 public:
  explicit CounterReader(const std::string& path);
  CounterReader(const CounterReader&) = delete;
  CounterReader& operator=(const CounterReader&) = delete;
  ~CounterReader();
  const CounterBlock& block() const { return *block_; }
  std::string to_json() const;

 private:
  const CounterBlock* block_ = nullptr;
};

std::string counters_to_json(const CounterBlock& block);

}  // namespace cb
