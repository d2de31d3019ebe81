// create_bench.cpp: what it costs to start and finish one unit of
// concurrency, the price each model pays per connection when it creates one.
//   build/bench/create_bench [--benchmark_format=json]
// Families (one iteration = create, run an empty body, tear down and reap):
//   BM_Create/fork_wait                fork, the child _exits, waitpid
//   BM_Create/posix_spawn_true         posix_spawn of /bin/true (vfork-like) + waitpid
//   BM_Create/fork_exec_true           fork, exec /bin/true, waitpid
//   BM_Create/fiber/fresh_stack        fiber with a newly mapped stack each time
//                                      (switch_bench.cpp has the pooled one)
//   BM_Create/pthread/default_stack    pthread_create + join, default attributes
//   BM_Create/pthread/64KiB_stack      the same with a 64 KiB stack (the
//                                      thread model's default)
// glibc caches the stacks of joined threads, so the pthread figures are the
// steady state a thread-per-connection server sees, not a fresh mmap each
// time. fork copies the page tables of this small process; a large parent
// pays more, which is why the process benchmarks run first, before thread
// stacks are cached in this process.
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "fiber/scheduler.h"

extern char** environ;

namespace {

constexpr std::size_t kFiberStackBytes = 64 * 1024;
constexpr std::size_t kSmallThreadStackBytes = 64 * 1024;
const char* const kTrue = "/bin/true";

void BM_CreateForkWait(benchmark::State& state) {
  for (auto _ : state) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    if (pid < 0 || !cb::bench::Child(pid).wait()) {
      state.SkipWithError("fork or the child failed");
      break;
    }
  }
}
BENCHMARK(BM_CreateForkWait)
    ->Name("BM_Create/fork_wait")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_CreatePosixSpawn(benchmark::State& state) {
  char* const argv[] = {const_cast<char*>(kTrue), nullptr};
  for (auto _ : state) {
    pid_t pid = -1;
    if (::posix_spawn(&pid, kTrue, nullptr, nullptr, argv, environ) != 0 ||
        !cb::bench::Child(pid).wait()) {
      state.SkipWithError("posix_spawn of /bin/true failed");
      break;
    }
  }
}
BENCHMARK(BM_CreatePosixSpawn)
    ->Name("BM_Create/posix_spawn_true")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_CreateForkExec(benchmark::State& state) {
  char* const argv[] = {const_cast<char*>(kTrue), nullptr};
  for (auto _ : state) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execv(kTrue, argv);
      ::_exit(127);  // exec failed; the parent sees a non-zero status
    }
    if (pid < 0 || !cb::bench::Child(pid).wait()) {
      state.SkipWithError("fork + exec of /bin/true failed");
      break;
    }
  }
}
BENCHMARK(BM_CreateForkExec)
    ->Name("BM_Create/fork_exec_true")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_CreateFiberFreshStack(benchmark::State& state) {
  cb::fiber::Scheduler::Options options;
  options.stack_bytes = kFiberStackBytes;
  options.max_pooled_stacks = 0;  // every fiber maps and unmaps its own stack
  cb::fiber::Scheduler sched(options);
  sched.spawn([&] {
    int ran = 0;
    for (auto _ : state) {
      if (!cb::fiber::Scheduler::current()->spawn([&ran] { ++ran; })) {
        state.SkipWithError("fiber spawn failed (no stack)");
        break;
      }
      cb::fiber::yield();  // the child runs and finishes; its stack is unmapped
    }
    benchmark::DoNotOptimize(ran);
  });
  sched.run();
}
BENCHMARK(BM_CreateFiberFreshStack)->Name("BM_Create/fiber/fresh_stack")->UseRealTime();

void* empty_thread(void*) { return nullptr; }

// pthread_create + join; stack_bytes 0 keeps the default attributes.
void BM_CreatePthread(benchmark::State& state, std::size_t stack_bytes) {
  pthread_attr_t attr;
  if (::pthread_attr_init(&attr) != 0) return state.SkipWithError("pthread_attr_init failed");
  if (stack_bytes != 0 && ::pthread_attr_setstacksize(&attr, stack_bytes) != 0) {
    ::pthread_attr_destroy(&attr);
    return state.SkipWithError("pthread_attr_setstacksize failed");
  }
  for (auto _ : state) {
    pthread_t thread;
    if (::pthread_create(&thread, &attr, empty_thread, nullptr) != 0 ||
        ::pthread_join(thread, nullptr) != 0) {
      state.SkipWithError("pthread_create or pthread_join failed");
      break;
    }
  }
  ::pthread_attr_destroy(&attr);
}
BENCHMARK_CAPTURE(BM_CreatePthread, default_stack, std::size_t{0})
    ->Name("BM_Create/pthread/default_stack")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_CreatePthread, small_stack, kSmallThreadStackBytes)
    ->Name("BM_Create/pthread/64KiB_stack")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
