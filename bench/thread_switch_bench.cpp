// thread_switch_bench.cpp: what a kernel context switch costs, between two
// threads and between two processes, on one CPU and across two.
//   build/bench/thread_switch_bench [--benchmark_format=json]
// Families (one iteration = a round trip A -> B -> A = 2 switches;
// ns_per_switch is half the iteration time):
//   BM_Switch/thread_futex/{same_cpu,cross_cpu}    raw futex wait/wake
//   BM_Switch/thread_condvar/{same_cpu,cross_cpu}  std::mutex + condition_variable
//   BM_Switch/process_pipe/{same_cpu,cross_cpu}    1 byte each way over two pipes
// Nobody spins: every hand-over blocks in the kernel, so on one CPU each
// half is a real switch, and across CPUs each half is a cross-CPU wakeup
// (an inter-processor interrupt; slow under a hypervisor).
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "common/fd.h"

namespace {

using cb::bench::Placement;

long futex(std::atomic<uint32_t>& word, int op, uint32_t value) {
  return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), op, value, nullptr, nullptr, 0);
}

// The token's owner: the main thread, the partner, or "partner, quit".
constexpr uint32_t kMain = 0;
constexpr uint32_t kPartner = 1;
constexpr uint32_t kQuit = 2;

void futex_partner(std::atomic<uint32_t>& turn, int cpu) {
  cb::pin_current_thread({cpu});
  for (;;) {
    uint32_t t;
    while ((t = turn.load(std::memory_order_acquire)) == kMain) {
      futex(turn, FUTEX_WAIT_PRIVATE, kMain);
    }
    if (t == kQuit) return;
    turn.store(kMain, std::memory_order_release);
    futex(turn, FUTEX_WAKE_PRIVATE, 1);
  }
}

void BM_ThreadFutex(benchmark::State& state, Placement placement) {
  auto cpus = cb::bench::cpus_for(placement);
  if (!cpus) return state.SkipWithError("needs two allowed CPUs");
  cb::bench::ScopedPin pin(cpus->first);
  if (!pin.ok()) return state.SkipWithError("could not pin to a CPU");
  std::atomic<uint32_t> turn{kMain};
  std::thread partner(futex_partner, std::ref(turn), cpus->second);
  cb::bench::LoopClock clock;
  for (auto _ : state) {
    turn.store(kPartner, std::memory_order_release);
    futex(turn, FUTEX_WAKE_PRIVATE, 1);
    while (turn.load(std::memory_order_acquire) == kPartner) {
      futex(turn, FUTEX_WAIT_PRIVATE, kPartner);
    }
  }
  clock.report_ns(state, "ns_per_switch", 2);
  turn.store(kQuit, std::memory_order_release);
  futex(turn, FUTEX_WAKE_PRIVATE, 1);
  partner.join();
}
BENCHMARK_CAPTURE(BM_ThreadFutex, same_cpu, Placement::kSameCpu)
    ->Name("BM_Switch/thread_futex/same_cpu")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ThreadFutex, cross_cpu, Placement::kCrossCpu)
    ->Name("BM_Switch/thread_futex/cross_cpu")
    ->UseRealTime();

// The same hand-over with the standard library's blocking primitives.
struct CondvarToken {
  std::mutex mutex;
  std::condition_variable changed;
  uint32_t turn = kMain;

  void give(uint32_t to) {
    {
      std::lock_guard lock(mutex);
      turn = to;
    }
    changed.notify_one();
  }
  uint32_t wait_while(uint32_t value) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return turn != value; });
    return turn;
  }
};

void condvar_partner(CondvarToken& token, int cpu) {
  cb::pin_current_thread({cpu});
  while (token.wait_while(kMain) != kQuit) token.give(kMain);
}

void BM_ThreadCondvar(benchmark::State& state, Placement placement) {
  auto cpus = cb::bench::cpus_for(placement);
  if (!cpus) return state.SkipWithError("needs two allowed CPUs");
  cb::bench::ScopedPin pin(cpus->first);
  if (!pin.ok()) return state.SkipWithError("could not pin to a CPU");
  CondvarToken token;
  std::thread partner(condvar_partner, std::ref(token), cpus->second);
  cb::bench::LoopClock clock;
  for (auto _ : state) {
    token.give(kPartner);
    token.wait_while(kPartner);
  }
  clock.report_ns(state, "ns_per_switch", 2);
  token.give(kQuit);
  partner.join();
}
BENCHMARK_CAPTURE(BM_ThreadCondvar, same_cpu, Placement::kSameCpu)
    ->Name("BM_Switch/thread_condvar/same_cpu")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ThreadCondvar, cross_cpu, Placement::kCrossCpu)
    ->Name("BM_Switch/thread_condvar/cross_cpu")
    ->UseRealTime();

struct Pipe {
  cb::Fd read_end;
  cb::Fd write_end;
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
    return true;
  }
};

// The child echoes one byte at a time until its input pipe closes. Only
// async-signal-safe calls after fork.
[[noreturn]] void pipe_echo_child(Pipe& to_child, Pipe& to_parent, int cpu) {
  // The parent's ends: with them open here, the input would never see EOF.
  ::close(to_child.write_end.get());
  ::close(to_parent.read_end.get());
  int in = to_child.read_end.get();
  int out = to_parent.write_end.get();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<std::size_t>(cpu), &set);
  ::sched_setaffinity(0, sizeof(set), &set);
  char byte;
  while (::read(in, &byte, 1) == 1) {
    if (::write(out, &byte, 1) != 1) ::_exit(1);
  }
  ::_exit(0);
}

void BM_ProcessPipe(benchmark::State& state, Placement placement) {
  auto cpus = cb::bench::cpus_for(placement);
  if (!cpus) return state.SkipWithError("needs two allowed CPUs");
  cb::bench::ScopedPin pin(cpus->first);
  if (!pin.ok()) return state.SkipWithError("could not pin to a CPU");
  Pipe to_child, to_parent;
  if (!to_child.open() || !to_parent.open()) return state.SkipWithError("pipe2 failed");
  pid_t pid = ::fork();
  if (pid < 0) return state.SkipWithError("fork failed");
  if (pid == 0) pipe_echo_child(to_child, to_parent, cpus->second);
  cb::bench::Child child(pid);
  to_child.read_end.reset();
  to_parent.write_end.reset();
  cb::bench::LoopClock clock;
  for (auto _ : state) {
    char byte = 'x';
    if (::write(to_child.write_end.get(), &byte, 1) != 1 ||
        ::read(to_parent.read_end.get(), &byte, 1) != 1) {
      state.SkipWithError("pipe ping-pong: a write or read failed");
      break;
    }
  }
  if (!state.error_occurred()) clock.report_ns(state, "ns_per_switch", 2);
  to_child.write_end.reset();  // EOF: the child exits
  if (!child.wait() && !state.error_occurred()) state.SkipWithError("pipe echo child failed");
}
BENCHMARK_CAPTURE(BM_ProcessPipe, same_cpu, Placement::kSameCpu)
    ->Name("BM_Switch/process_pipe/same_cpu")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ProcessPipe, cross_cpu, Placement::kCrossCpu)
    ->Name("BM_Switch/process_pipe/cross_cpu")
    ->UseRealTime();

}  // namespace
