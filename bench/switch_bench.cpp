// switch_bench.cpp: what a fiber switch costs, next to ucontext.
//   build/bench/switch_bench [--benchmark_format=json]
// Families (names grouped by the plots before the first '/'):
//   BM_Switch/fiber          raw switch_context ping-pong (Boost fcontext), the
//                            primitive under every park/resume of the hub
//   BM_Switch/fiber_scheduler  two fibers yielding through the scheduler: each
//                            yield is fiber -> hub -> other fiber (2 switches)
//                            plus the run-queue work
//   BM_Switch/ucontext       glibc swapcontext ping-pong: it also saves and
//                            restores the signal mask, a system call each way
//   BM_Create/fiber/pooled_stack  spawn + run + finish one fiber (pooled stack)
// One iteration of a BM_Switch benchmark is a round trip A -> B -> A, as in
// thread_switch_bench.cpp; ns_per_switch (or ns_per_yield) divides it by the
// switches (yields) in it. Times are wall clock (UseRealTime), like the
// thread and process switches they are compared with.
#include <ucontext.h>

#include <cstdlib>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "fiber/context.h"
#include "fiber/scheduler.h"
#include "fiber/stack.h"

namespace {

using cb::fiber::Context;

constexpr std::size_t kStackBytes = 64 * 1024;

struct PingPong {
  Context main;
  Context side;
  bool done = false;
};

void side_loop(void* arg) {
  auto* pp = static_cast<PingPong*>(arg);
  while (!pp->done) cb::fiber::switch_context(pp->side, pp->main);
  cb::fiber::exit_context(pp->side, pp->main);
}

void BM_FiberSwitch(benchmark::State& state) {
  cb::fiber::Stack stack = cb::fiber::Stack::map(kStackBytes);
  if (!stack.valid()) std::abort();
  PingPong pp;
  cb::fiber::make_context(pp.side, stack.bottom(), stack.size(), side_loop, &pp);
  cb::bench::LoopClock clock;
  for (auto _ : state) cb::fiber::switch_context(pp.main, pp.side);
  clock.report_ns(state, "ns_per_switch", 2);
  pp.done = true;
  cb::fiber::switch_context(pp.main, pp.side);
}
BENCHMARK(BM_FiberSwitch)->Name("BM_Switch/fiber")->UseRealTime();

void BM_SchedulerYield(benchmark::State& state) {
  cb::fiber::Scheduler::Options options;
  options.stack_bytes = kStackBytes;
  cb::fiber::Scheduler sched(options);
  bool done = false;
  // The measured fiber runs the benchmark loop; the partner just yields back.
  sched.spawn([&] {
    cb::bench::LoopClock clock;
    for (auto _ : state) cb::fiber::yield();
    // One iteration = my yield + the partner's yield = four context switches.
    clock.report_ns(state, "ns_per_yield", 2);
    clock.report_ns(state, "ns_per_switch", 4);
    done = true;
  });
  sched.spawn([&] {
    while (!done) cb::fiber::yield();
  });
  sched.run();
}
BENCHMARK(BM_SchedulerYield)->Name("BM_Switch/fiber_scheduler")->UseRealTime();

struct UcontextPingPong {
  ucontext_t main;
  ucontext_t side;
  bool done = false;
};
UcontextPingPong* g_uc = nullptr;  // makecontext passes only ints

void uc_side_loop() {
  while (!g_uc->done) swapcontext(&g_uc->side, &g_uc->main);
}

void BM_UcontextSwap(benchmark::State& state) {
  std::vector<char> stack(kStackBytes);
  UcontextPingPong uc;
  g_uc = &uc;
  if (getcontext(&uc.side) != 0) std::abort();
  uc.side.uc_stack.ss_sp = stack.data();
  uc.side.uc_stack.ss_size = stack.size();
  uc.side.uc_link = &uc.main;
  makecontext(&uc.side, uc_side_loop, 0);
  cb::bench::LoopClock clock;
  for (auto _ : state) swapcontext(&uc.main, &uc.side);
  clock.report_ns(state, "ns_per_switch", 2);
  uc.done = true;
  swapcontext(&uc.main, &uc.side);  // the side loop returns to uc_link
}
BENCHMARK(BM_UcontextSwap)->Name("BM_Switch/ucontext")->UseRealTime();

void BM_FiberSpawn(benchmark::State& state) {
  cb::fiber::Scheduler::Options options;
  options.stack_bytes = kStackBytes;
  cb::fiber::Scheduler sched(options);
  sched.spawn([&] {
    int ran = 0;
    cb::bench::LoopClock clock;
    for (auto _ : state) {
      cb::fiber::Scheduler::current()->spawn([&ran] { ++ran; });
      cb::fiber::yield();  // the child runs and finishes; its stack is pooled
    }
    clock.report_ns(state, "ns_per_spawn", 1);
    benchmark::DoNotOptimize(ran);
  });
  sched.run();
}
BENCHMARK(BM_FiberSpawn)->Name("BM_Create/fiber/pooled_stack")->UseRealTime();

}  // namespace
// main() is bench_main.cpp's (it adds this project's context notes).
