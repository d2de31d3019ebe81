// memory_bench.cpp: what one more idle fiber, thread or process costs in
// memory, measured the way the harness measures servers (PSS from
// /proc/<pid>/smaps_rollup), not read off configured stack sizes.
//   build/bench/memory_bench [--benchmark_format=json]
// Names: BM_Memory/fiber, BM_Memory/thread/default_stack,
//        BM_Memory/thread/64KiB_stack, BM_Memory/process
// Each iteration creates kItems idle items (parked fibers, threads blocked on a
// condition variable, forked children blocked in read()), measures, then
// releases them. The figures are counters, not the time:
//   pss_kb_per_item          (PSS after - PSS before) / kItems, over this
//                            process and, for processes, all the children
//   page_tables_kb_per_item  the same for VmPTE (page tables: kernel memory
//                            that PSS leaves out; a process has its own)
//   kernel_stack_kb_per_item KernelStack of /proc/meminfo: each thread and
//                            process has a kernel stack PSS leaves out. It is
//                            system-wide, so other activity adds noise.
//   items                    how many were measured (a check)
// PSS of forked children includes their share of every page still shared
// with the parent and with other processes mapping the same libraries: more
// processes take a larger share of those pages, which is part of what PSS
// charges a process-per-connection server.
// Processes are measured first: a fork copies page tables and the pages
// the parent has touched, so they must not inherit what the thread
// benchmarks leave behind (glibc's cache of thread stacks).
#include <fcntl.h>
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "common/fd.h"
#include "fiber/scheduler.h"

namespace {

constexpr int kItems = 1000;
constexpr std::size_t kFiberStackBytes = 64 * 1024;      // the fiber model's default
constexpr std::size_t kSmallThreadStackBytes = 64 * 1024;  // the thread model's default

// Memory figures of a set of processes at one moment (kB).
struct Snapshot {
  int64_t pss_kb = 0;
  int64_t page_tables_kb = 0;
  int64_t kernel_stack_kb = 0;
  bool ok = true;

  void add_process(pid_t pid) {
    int64_t pss = cb::bench::pss_kb(pid);
    int64_t pte = cb::bench::status_kb("VmPTE", pid);
    ok = ok && pss >= 0 && pte >= 0;
    pss_kb += pss;
    page_tables_kb += pte;
  }
  static Snapshot of_self() {
    Snapshot s;
    s.add_process(0);
    s.kernel_stack_kb = cb::bench::meminfo_kb("KernelStack");
    s.ok = s.ok && s.kernel_stack_kb >= 0;
    return s;
  }
};

// Per-item counters of one iteration, averaged over the iterations.
void report(benchmark::State& state, const Snapshot& before, const Snapshot& after, int items) {
  auto per_item = [&](int64_t b, int64_t a) {
    return benchmark::Counter(static_cast<double>(a - b) / items,
                              benchmark::Counter::kAvgIterations);
  };
  state.counters["pss_kb_per_item"] = per_item(before.pss_kb, after.pss_kb);
  state.counters["page_tables_kb_per_item"] =
      per_item(before.page_tables_kb, after.page_tables_kb);
  state.counters["kernel_stack_kb_per_item"] =
      per_item(before.kernel_stack_kb, after.kernel_stack_kb);
  state.counters["items"] = benchmark::Counter(items, benchmark::Counter::kAvgIterations);
}

// --- processes: kItems forked children blocked in read() ---

// The children of one measurement. Each says it is up on `up`, then blocks
// reading `gate` until the parent closes its end (EOF), then exits.
class IdleChildren {
 public:
  bool start(int n) {
    int gate[2], up[2];
    if (::pipe2(gate, O_CLOEXEC) != 0) return false;
    gate_read_.reset(gate[0]);
    gate_write_.reset(gate[1]);
    if (::pipe2(up, O_CLOEXEC) != 0) return false;
    cb::Fd up_read(up[0]), up_write(up[1]);
    for (int i = 0; i < n; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) child_main(up_write.get());
      if (pid < 0) return false;
      children_.emplace_back(pid);
    }
    up_write.reset();
    return all_up(up_read.get(), n);
  }
  const std::vector<cb::bench::Child>& children() const { return children_; }
  // Lets the children exit; true if every one exited with status 0.
  bool finish() {
    gate_write_.reset();
    bool ok = true;
    for (cb::bench::Child& c : children_) ok = c.wait() && ok;
    return ok;
  }

 private:
  // Async-signal-safe calls only: this is a forked copy of the benchmark.
  [[noreturn]] void child_main(int up) {
    ::close(gate_write_.get());  // or the gate would never reach EOF
    char byte = 'u';
    if (::write(up, &byte, 1) != 1) ::_exit(1);
    ::close(up);
    while (::read(gate_read_.get(), &byte, 1) > 0) {
    }
    ::_exit(0);
  }
  static bool all_up(int up, int n) {
    char buf[256];
    int seen = 0;
    while (seen < n) {
      ssize_t r = ::read(up, buf, sizeof(buf));
      if (r <= 0) return false;  // a child died before saying it was up
      seen += static_cast<int>(r);
    }
    return seen == n;
  }

  cb::Fd gate_read_;
  cb::Fd gate_write_;
  std::vector<cb::bench::Child> children_;  // killed and reaped on failure
};

void BM_MemoryProcess(benchmark::State& state) {
  for (auto _ : state) {
    Snapshot before = Snapshot::of_self();
    IdleChildren children;
    if (!children.start(kItems)) {
      state.SkipWithError("fork failed (process limit?)");
      break;
    }
    Snapshot after = Snapshot::of_self();
    for (const cb::bench::Child& c : children.children()) after.add_process(c.pid());
    bool exited = children.finish();
    if (!before.ok || !after.ok || !exited) {
      state.SkipWithError("/proc read failed or a child did not exit cleanly");
      break;
    }
    report(state, before, after, kItems);
  }
}
BENCHMARK(BM_MemoryProcess)
    ->Name("BM_Memory/process")
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// --- fibers: kItems fibers parked on one scheduler ---

bool measure_fibers(benchmark::State& state) {
  cb::fiber::Scheduler::Options options;
  options.stack_bytes = kFiberStackBytes;
  options.max_pooled_stacks = 0;  // stacks come from mmap, as for new connections
  cb::fiber::Scheduler sched(options);
  Snapshot before, after;
  int parked = 0;
  bool spawned = true;
  sched.spawn([&] {
    auto* self = cb::fiber::Scheduler::current();
    before = Snapshot::of_self();
    for (int i = 0; i < kItems && spawned; ++i) {
      spawned = self->spawn([&parked] {
        ++parked;
        cb::fiber::Scheduler::current()->park();  // idle until request_stop()
      });
    }
    cb::fiber::yield();  // every new fiber runs once, up to its park
    after = Snapshot::of_self();
    self->request_stop();
  });
  sched.run();
  if (!spawned || parked != kItems || !before.ok || !after.ok) return false;
  report(state, before, after, kItems);
  return true;
}

void BM_MemoryFiber(benchmark::State& state) {
  for (auto _ : state) {
    if (!measure_fibers(state)) {
      state.SkipWithError("fiber spawn or /proc read failed");
      break;
    }
  }
}
BENCHMARK(BM_MemoryFiber)->Name("BM_Memory/fiber")->Iterations(1)->UseRealTime()->Unit(
    benchmark::kMillisecond);

// --- threads: kItems threads blocked on one condition variable ---

class Gate {
 public:
  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    ++arrived_;
    arrived_changed_.notify_one();
    opened_changed_.wait(lock, [&] { return open_; });
  }
  void wait_for_arrivals(int n) {
    std::unique_lock lock(mutex_);
    arrived_changed_.wait(lock, [&] { return arrived_ >= n; });
  }
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_changed_;
  std::condition_variable opened_changed_;
  int arrived_ = 0;
  bool open_ = false;
};

void* wait_at_gate(void* gate) {
  static_cast<Gate*>(gate)->arrive_and_wait();
  return nullptr;
}

// The threads of one measurement; opens the gate and joins them when it goes.
class IdleThreads {
 public:
  explicit IdleThreads(std::size_t stack_bytes) {
    ok_ = ::pthread_attr_init(&attr_) == 0;
    if (ok_ && stack_bytes != 0) ok_ = ::pthread_attr_setstacksize(&attr_, stack_bytes) == 0;
  }
  ~IdleThreads() {
    gate_.open();
    for (pthread_t t : threads_) ::pthread_join(t, nullptr);
    ::pthread_attr_destroy(&attr_);
  }
  IdleThreads(const IdleThreads&) = delete;
  IdleThreads& operator=(const IdleThreads&) = delete;

  // Starts n threads and returns once all of them are blocked at the gate.
  bool start(int n) {
    for (int i = 0; i < n && ok_; ++i) {
      pthread_t t;
      ok_ = ::pthread_create(&t, &attr_, wait_at_gate, &gate_) == 0;
      if (ok_) threads_.push_back(t);
    }
    if (ok_) gate_.wait_for_arrivals(n);
    return ok_;
  }

 private:
  pthread_attr_t attr_{};
  Gate gate_;
  std::vector<pthread_t> threads_;
  bool ok_ = false;
};

void BM_MemoryThread(benchmark::State& state, std::size_t stack_bytes) {
  for (auto _ : state) {
    Snapshot before = Snapshot::of_self();
    IdleThreads threads(stack_bytes);
    if (!threads.start(kItems)) {
      state.SkipWithError("pthread_create failed (thread limit?)");
      break;
    }
    Snapshot after = Snapshot::of_self();
    if (!before.ok || !after.ok) {
      state.SkipWithError("/proc read failed");
      break;
    }
    report(state, before, after, kItems);
  }
}
// One repetition each: glibc keeps up to 40 MiB of joined threads' stacks,
// pages touched, for reuse, so a second round of 64 KiB threads would mostly
// get stacks whose pages the "before" figure already holds. A fresh process
// has no cached stacks, and the cache never serves a request from a stack
// more than 4x larger, so default_stack's leftovers do not feed 64KiB_stack.
BENCHMARK_CAPTURE(BM_MemoryThread, default_stack, std::size_t{0})
    ->Name("BM_Memory/thread/default_stack")
    ->Iterations(1)
    ->Repetitions(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MemoryThread, small_stack, kSmallThreadStackBytes)
    ->Name("BM_Memory/thread/64KiB_stack")
    ->Iterations(1)
    ->Repetitions(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
