// switch_bench.cpp: what a fiber switch costs, next to ucontext.
//   build/bench/switch_bench [--benchmark_format=json]
// Families:
//   BM_FiberSwitch       raw switch_context ping-pong (Boost fcontext), the
//                        primitive under every park/resume of the hub
//   BM_SchedulerYield    two fibers yielding through the scheduler: each
//                        yield is fiber -> hub -> other fiber (2 switches)
//                        plus the run-queue work
//   BM_UcontextSwap      glibc swapcontext ping-pong: it also saves and
//                        restores the signal mask, a system call each way
//   BM_FiberSpawn        spawn + run + finish one fiber (pooled stack)
// Each reports ns_per_switch (or per spawn); one benchmark iteration of a
// ping-pong is two switches (there and back).
#include <ucontext.h>

#include <cstdlib>
#include <vector>

#include <benchmark/benchmark.h>

#include "fiber/context.h"
#include "fiber/scheduler.h"
#include "fiber/stack.h"

namespace {

using cb::fiber::Context;

constexpr std::size_t kStackBytes = 64 * 1024;

benchmark::Counter per_switch(benchmark::State& state, double switches_per_iteration) {
  return benchmark::Counter(static_cast<double>(state.iterations()) * switches_per_iteration,
                            benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

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
  for (auto _ : state) cb::fiber::switch_context(pp.main, pp.side);
  pp.done = true;
  cb::fiber::switch_context(pp.main, pp.side);
  state.counters["ns_per_switch"] = per_switch(state, 2);
}
BENCHMARK(BM_FiberSwitch);

void BM_SchedulerYield(benchmark::State& state) {
  cb::fiber::Scheduler::Options options;
  options.stack_bytes = kStackBytes;
  cb::fiber::Scheduler sched(options);
  bool done = false;
  // The measured fiber runs the benchmark loop; the partner just yields back.
  sched.spawn([&] {
    for (auto _ : state) cb::fiber::yield();
    done = true;
  });
  sched.spawn([&] {
    while (!done) cb::fiber::yield();
  });
  sched.run();
  // One iteration = my yield + the partner's yield = four context switches.
  state.counters["ns_per_yield"] = per_switch(state, 2);
  state.counters["ns_per_switch"] = per_switch(state, 4);
}
BENCHMARK(BM_SchedulerYield);

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
  for (auto _ : state) swapcontext(&uc.main, &uc.side);
  uc.done = true;
  swapcontext(&uc.main, &uc.side);  // the side loop returns to uc_link
  state.counters["ns_per_switch"] = per_switch(state, 2);
}
BENCHMARK(BM_UcontextSwap);

void BM_FiberSpawn(benchmark::State& state) {
  cb::fiber::Scheduler::Options options;
  options.stack_bytes = kStackBytes;
  cb::fiber::Scheduler sched(options);
  sched.spawn([&] {
    int ran = 0;
    for (auto _ : state) {
      cb::fiber::Scheduler::current()->spawn([&ran] { ++ran; });
      cb::fiber::yield();  // the child runs and finishes; its stack is pooled
    }
    benchmark::DoNotOptimize(ran);
  });
  sched.run();
  state.counters["ns_per_spawn"] = per_switch(state, 1);
}
BENCHMARK(BM_FiberSpawn);

}  // namespace

BENCHMARK_MAIN();
